package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import dev.jgpt.config.TrainConfig;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaException;
import dev.jgpt.cuda.CudaGpt;
import dev.jgpt.cuda.MatmulPath;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.MemoryEstimate;
import dev.jgpt.train.Optimizer;

import java.util.function.BiFunction;
import java.util.function.Supplier;

/**
 * Where a run trains: train.device decided on this machine. {@code auto} takes the first GPU when
 * one can be used (a driver, a GPU, the CUDA libraries) and the CPU otherwise; {@code cuda} without a
 * GPU is one clear error. Data-parallel runs (mpirun) train on the CPU: each rank would need its own
 * GPU and the gradients summed on it, which is not built. The run's first line says which and why.
 *
 * @param cuda        the GPU, or null for the CPU
 * @param description what the run's log and run.json say: "cuda, NVIDIA H100 ... (train.device auto: a GPU is usable)"
 * @param engines     the engine that trains a host model with its optimizer on this device
 */
record TrainDevice(Cuda cuda, String description, BiFunction<Gpt, Optimizer, Engine> engines) implements AutoCloseable {

    /** The CPU engine works on the host model and optimizer in place. */
    static TrainDevice cpu(String why) {
        return new TrainDevice(null, "cpu (" + why + ")", (model, optimizer) -> Engine.cpu(model, optimizer::step));
    }

    /**
     * The GPU engine works on a copy, uploaded when it is made (the trainer brings the state back for
     * checkpoints); its matmuls run on the library JGPT_MATMUL names, checked now, before the run starts.
     */
    static TrainDevice gpu(Cuda cuda, String why) {
        MatmulPath matmul;
        try {
            matmul = MatmulPath.selected();
        } catch (RuntimeException e) {
            cuda.close();
            throw e;
        }
        return new TrainDevice(cuda, "cuda, " + cuda.describe() + ", matmuls by " + matmul.id() + " (" + why + ")",
                (model, optimizer) -> new CudaGpt(cuda, model).engine(optimizer));
    }

    /** train.device for a run of {@code processes} processes; {@code openGpu} is how a GPU is opened (Cuda::open). */
    static TrainDevice of(TrainConfig.Device wanted, int processes, Supplier<Cuda> openGpu) {
        switch (wanted) {
            case CPU -> {
                return cpu("train.device: cpu");
            }
            case CUDA -> {
                if (processes > 1) {
                    throw new JgptException("train.device: cuda trains in one process; data-parallel training on GPUs is not"
                            + " built yet: run without mpirun, or set train.device: cpu to train on the CPUs of " + processes + " processes");
                }
                return gpu(openGpu.get(), "train.device: cuda");
            }
            default -> {
                if (processes > 1) return cpu("train.device auto: data-parallel runs train on the CPU");
                Cuda cuda;
                try {
                    cuda = openGpu.get();
                } catch (CudaException e) {
                    // the reason's first clause: where it searched is for train.device cuda's error to list
                    String why = e.getMessage().split("; ", 2)[0];
                    return cpu("train.device auto: no usable GPU: " + why);
                }
                return gpu(cuda, "train.device auto: a GPU is usable");
            }
        }
    }

    static TrainDevice of(TrainConfig.Device wanted, int processes) {
        return of(wanted, processes, Cuda::open);
    }

    boolean onGpu() {
        return cuda != null;
    }

    /**
     * Refuses a run that cannot fit, before anything is allocated: on the CPU its micro-batch's logits
     * must fit one Java array and the whole step the heap; on the GPU the step must fit the GPU's free
     * memory and the host copies the heap.
     */
    void requireFits(RunConfig cfg, long heap) {
        if (!onGpu()) {
            String limit = cfg.cpuLimit();
            if (limit != null) throw new JgptException("on the CPU " + description.substring("cpu ".length()) + ", " + limit);
        }
        cfg.memoryEstimate(onGpu()).requireFits(heap);
        if (onGpu()) {
            long needed = CudaGpt.trainingBytes(cfg.model().shape(), cfg.train().microBatchSize(), cfg.train().seqLen());
            long free = cuda.memoryInfo()[0];
            if (needed > free) {
                throw new JgptException("the run needs about " + MemoryEstimate.gb(needed) + " of GPU memory (parameters, gradients,"
                        + " AdamW and the activations of a micro-batch) but " + cuda.deviceName + " has " + MemoryEstimate.gb(free)
                        + " free: lower train.micro_batch_size (gradient accumulation keeps train.total_batch_size)");
            }
        }
    }

    /** The memory line of the run's log: the heap's estimate, and on a GPU its share and what is free. */
    String memoryLine(RunConfig cfg, long heap) {
        String line = cfg.memoryEstimate(onGpu()).describe(heap);
        if (!onGpu()) return line;
        long needed = CudaGpt.trainingBytes(cfg.model().shape(), cfg.train().microBatchSize(), cfg.train().seqLen());
        return line + "; GPU ~" + MemoryEstimate.gb(needed) + " (" + MemoryEstimate.gb(cuda.memoryInfo()[0]) + " free)";
    }

    /** Gives the GPU back (its memory with it). */
    @Override
    public void close() {
        if (cuda != null) cuda.close();
    }
}
