package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import dev.jgpt.config.TrainConfig;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaException;
import dev.jgpt.cuda.CudaGpt;
import dev.jgpt.cuda.MatmulPath;
import dev.jgpt.dist.Mpi;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.MemoryEstimate;
import dev.jgpt.train.Optimizer;

import java.util.function.BiFunction;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * Where a run trains: train.device decided on this machine. {@code auto} takes a GPU when one can be
 * used (a driver, a GPU, the CUDA libraries) and the CPU otherwise; {@code cuda} without a GPU is one
 * clear error. Each rank of a data-parallel run (mpirun) decides for itself and takes the GPU of its
 * local rank (local rank mod the GPUs it sees). The run's first line says which and why.
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

    /**
     * train.device for this process, the {@code localRank}th rank on its host (0 without mpirun);
     * {@code openGpu} opens the GPU of a local rank (Cuda::forLocalRank).
     */
    static TrainDevice of(TrainConfig.Device wanted, int localRank, IntFunction<Cuda> openGpu) {
        Supplier<Cuda> open = () -> openGpu.apply(localRank);
        switch (wanted) {
            case CPU -> {
                return cpu("train.device: cpu");
            }
            case CUDA -> {
                return gpu(open.get(), "train.device: cuda");
            }
            default -> {
                Cuda cuda;
                try {
                    cuda = open.get();
                } catch (CudaException e) {
                    // the reason's first clause: where it searched is for train.device cuda's error to list
                    String why = e.getMessage().split("; ", 2)[0];
                    return cpu("train.device auto: no usable GPU: " + why);
                }
                return gpu(cuda, "train.device auto: a GPU is usable");
            }
        }
    }

    /** train.device for this process, on this machine: a GPU counts as usable once its libraries load too. */
    static TrainDevice of(TrainConfig.Device wanted) {
        return of(wanted, Mpi.localRank(), localRank -> Cuda.forLocalRank(localRank).requireLibraries());
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
