package dev.jgpt.cuda;

import dev.jgpt.model.BlockOps;
import dev.jgpt.tensor.View;

/**
 * A block's operations on the GPU: {@link CudaKernels} on device buffers, the parameters read from one
 * float32 device buffer laid out by GptLayout (as the host's). Decoding runs a block with these;
 * training adds the rest ({@link CudaGpt}).
 */
class CudaBlockOps implements BlockOps<DeviceBuffer> {
    final CudaKernels k;
    private final DeviceBuffer params;

    CudaBlockOps(CudaKernels k, DeviceBuffer params) {
        this.k = k;
        this.params = params;
    }

    /** The device address of a parameter tensor; 0 (none) for null. */
    final long p(View view) {
        return view == null ? 0L : params.at(view.start());
    }

    @Override
    public void layernorm(DeviceBuffer out, DeviceBuffer mean, DeviceBuffer rstd, DeviceBuffer inp, View weight, View bias,
                          int n, int C) {
        k.layernormForward(out.address, mean.address, rstd.address, inp.address, p(weight), p(bias), n, C);
    }

    @Override
    public void matmul(DeviceBuffer out, DeviceBuffer inp, View weight, View bias, int n, int C, int OC) {
        k.matmulForward(out.address, inp.address, p(weight), p(bias), n, C, OC);
    }

    @Override
    public void gelu(DeviceBuffer out, DeviceBuffer inp, long n) {
        k.geluForward(out.address, inp.address, n);
    }

    @Override
    public void residual(DeviceBuffer out, DeviceBuffer a, DeviceBuffer b, long n) {
        k.residualForward(out.address, a.address, b.address, n);
    }
}
