package dev.jgpt.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/** One loaded shared library and where it came from; hands out downcall handles to its functions. */
record NativeLibrary(String name, String origin, SymbolLookup symbols) {
    private static final Linker LINKER = Linker.nativeLinker();

    static NativeLibrary open(String name, Path file) {
        return new NativeLibrary(name, file.toString(), SymbolLookup.libraryLookup(file, Arena.global()));
    }

    static NativeLibrary openFromLoaderPath(String soname) {
        return new NativeLibrary(soname, soname + " (loader path)", SymbolLookup.libraryLookup(soname, Arena.global()));
    }

    /** The first of {@code names} the library exports (newer ABI versions first), as a method handle. */
    MethodHandle function(FunctionDescriptor fd, String... names) {
        return function(fd, new Linker.Option[0], names);
    }

    MethodHandle function(FunctionDescriptor fd, Linker.Option[] options, String... names) {
        for (String n : names) {
            MemorySegment address = symbols.find(n).orElse(null);
            if (address != null) return LINKER.downcallHandle(address, fd, options);
        }
        throw new CudaException(origin + " does not export " + String.join(" or ", names) + " (too old a version?)");
    }
}
