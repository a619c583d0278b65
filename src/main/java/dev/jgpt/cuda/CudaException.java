package dev.jgpt.cuda;

import dev.jgpt.JgptException;

/**
 * A CUDA library is missing, or a CUDA call failed: the message names the call and the library's
 * name for its error code (CUDA_ERROR_OUT_OF_MEMORY, NVRTC_ERROR_COMPILATION, ...), in one line.
 */
public final class CudaException extends JgptException {
    public CudaException(String message) {
        super(message);
    }
}
