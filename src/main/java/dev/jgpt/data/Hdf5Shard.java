package dev.jgpt.data;

import dev.jgpt.JgptException;
import io.jhdf.HdfFile;
import io.jhdf.WritableHdfFile;
import io.jhdf.api.Dataset;
import io.jhdf.api.DatasetCreationOptions;
import io.jhdf.api.Node;
import io.jhdf.api.dataset.ContiguousDataset;
import io.jhdf.dataset.chunked.Chunk;
import io.jhdf.dataset.chunked.ChunkedDatasetBase;
import io.jhdf.object.datatype.DataType;
import io.jhdf.object.datatype.FixedPoint;

import java.lang.reflect.Method;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * HDF5 token shards through jhdf (pure Java: no native HDF5 library to install, and it both writes
 * chunked datasets and reads what h5py writes, including gzip/shuffle-filtered chunks).
 *
 * <p>A shard is one 1-D uint16 dataset named {@code tokens} (a file with any other single dataset is
 * read too). jgpt writes it chunked, {@value #CHUNK_TOKENS} tokens (512 KiB) a chunk, uncompressed:
 * token ids barely compress, and uncompressed chunks keep h5py's slicing of a shard fast.
 * In Python: {@code h5py.File("x_train_000001.h5")["tokens"][:]}.
 */
final class Hdf5Shard {
    static final String DATASET = "tokens";
    static final int CHUNK_TOKENS = 1 << 18;
    // Tokens decoded per jhdf call when a shard is chunked: bounds the int[] jhdf hands back.
    private static final int SLICE_TOKENS = 1 << 20;

    private Hdf5Shard() {
    }

    static long tokenCount(Path path) {
        try (HdfFile file = openFile(path)) {
            return checkedDataset(file, path).getDimensionsAsLong()[0];
        } catch (JgptException e) {
            throw e;
        } catch (RuntimeException e) {
            throw corrupt(path, e);
        }
    }

    static TokenShard open(Path path) {
        try (HdfFile file = openFile(path)) {
            Dataset ds = checkedDataset(file, path);
            long count = ds.getDimensionsAsLong()[0];
            if (ds instanceof ContiguousDataset contiguous && ds.getFilters().isEmpty()
                    && ((FixedPoint) ds.getDataType()).getByteOrder() == ByteOrder.LITTLE_ENDIAN && count > 0) {
                // Plain bytes at a known place in the file: map them like a .bin shard.
                long offset = file.getUserBlockSize() + contiguous.getDataAddress();
                if (offset + 2 * count > file.size()) {
                    throw new JgptException(path + ": truncated: dataset '" + ds.getName() + "' needs bytes up to "
                            + (offset + 2 * count) + " but the file has " + file.size());
                }
                return TokenShard.map(path, offset, count);
            }
            if (count > Integer.MAX_VALUE - 16) {
                throw new JgptException(path + ": " + count + " tokens is too many for one chunked HDF5 shard (max 2^31)");
            }
            checkChunksInFile(file, ds, path);
            short[] tokens = new short[(int) count];
            for (long from = 0; from < count; from += SLICE_TOKENS) {
                int n = (int) Math.min(SLICE_TOKENS, count - from);
                int[] slice = (int[]) ds.getData(new long[] {from}, new int[] {n});
                for (int i = 0; i < n; i++) {
                    tokens[(int) from + i] = (short) slice[i];
                }
            }
            return TokenShard.ofArray(path, tokens);
        } catch (JgptException e) {
            throw e;
        } catch (RuntimeException e) {
            throw corrupt(path, e);
        }
    }

    /**
     * jhdf reads a chunk that lies past the end of a cut-off file without complaint, zeros or stray
     * bytes coming back as tokens; so every chunk must end inside the file. The chunks' places are
     * jhdf's protected chunk index (read here by reflection: the whole classpath is one module);
     * should a later jhdf move it, uncompressed tokens must at least fit in the file.
     */
    private static void checkChunksInFile(HdfFile file, Dataset ds, Path path) {
        long end = 0;
        try {
            Method lookup = ChunkedDatasetBase.class.getDeclaredMethod("getChunkLookup");
            lookup.setAccessible(true);
            for (Object chunk : ((Map<?, ?>) lookup.invoke(ds)).values()) {
                Chunk c = (Chunk) chunk;
                end = Math.max(end, file.getUserBlockSize() + c.getAddress() + c.getSize());
            }
        } catch (ReflectiveOperationException | ClassCastException | SecurityException e) {
            end = ds.getFilters().isEmpty() ? 2 * ds.getDimensionsAsLong()[0] : 0;
        }
        if (end > file.size()) {
            throw new JgptException(path + ": truncated: dataset '" + ds.getName() + "' needs bytes up to " + end
                    + " but the file has " + file.size());
        }
    }

    private static HdfFile openFile(Path path) {
        try {
            return new HdfFile(path);
        } catch (RuntimeException e) {
            throw corrupt(path, e);
        }
    }

    private static JgptException corrupt(Path path, RuntimeException e) {
        String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new JgptException(path + ": not a readable HDF5 token shard (corrupt or truncated?): " + why, e);
    }

    /** The tokens dataset, checked to be 1-D uint16. */
    private static Dataset checkedDataset(HdfFile file, Path path) {
        Dataset ds;
        Node named = file.getChildren().get(DATASET);
        if (named instanceof Dataset d) {
            ds = d;
        } else {
            List<Dataset> all = file.getChildren().values().stream()
                    .filter(n -> n instanceof Dataset).map(n -> (Dataset) n).toList();
            if (all.size() != 1) {
                throw new JgptException(path + ": no dataset named '" + DATASET + "' (datasets at the root: "
                        + all.stream().map(Node::getName).toList() + ")");
            }
            ds = all.getFirst();
        }
        DataType type = ds.getDataType();
        if (!(type instanceof FixedPoint fp) || fp.isSigned() || fp.getSize() != 2) {
            throw new JgptException(path + ": dataset '" + ds.getName() + "' holds " + describe(type)
                    + ", expected uint16 tokens");
        }
        if (ds.getDimensions().length != 1) {
            throw new JgptException(path + ": dataset '" + ds.getName() + "' has shape "
                    + java.util.Arrays.toString(ds.getDimensions()) + ", expected a 1-D array of tokens");
        }
        return ds;
    }

    private static String describe(DataType type) {
        if (type instanceof FixedPoint fp) {
            return (fp.isSigned() ? "int" : "uint") + fp.getSize() * 8;
        }
        String name = type.getClass().getSimpleName();
        return name.equals("FloatingPoint") ? "float" + type.getSize() * 8 : name;
    }

    static void write(Path path, short[] tokens, int count) {
        short[] data = count == tokens.length ? tokens : java.util.Arrays.copyOf(tokens, count);
        DatasetCreationOptions options = DatasetCreationOptions.builder()
                .unsigned()
                .chunkDimensions(Math.max(1, Math.min(count, CHUNK_TOKENS)))
                .build();
        try (WritableHdfFile file = HdfFile.write(path)) {
            file.putDataset(DATASET, data, options);
        }
    }
}
