package dev.jgpt.data;

import dev.hardwood.InputFile;
import dev.hardwood.metadata.ColumnChunk;
import dev.hardwood.metadata.RowGroup;
import dev.hardwood.reader.ColumnReader;
import dev.hardwood.reader.ParquetFileReader;
import dev.hardwood.schema.ColumnSchema;
import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Reads one string column (FineWeb-Edu's {@code text}) from a parquet file with Hardwood: a parquet
 * reader written for the JVM from the format spec, with no Hadoop and no parquet-java underneath
 * (its only dependencies are the codecs: snappy-java and zstd-jni here, the codecs such datasets use).
 */
final class ParquetTexts {
    // Hardwood announces facts like "SIMD support: enabled" at INFO through System.Logger, which lands
    // in the middle of prepare's output; its warnings and errors still come through. The logger is
    // held here so the level outlives garbage collection.
    private static final Logger HARDWOOD_LOG = Logger.getLogger("dev.hardwood");

    static {
        HARDWOOD_LOG.setLevel(Level.WARNING);
    }

    private ParquetTexts() {
    }

    /** Calls {@code sink} with every non-null value of {@code column}, in row order. */
    static void forEach(Path path, String column, Consumer<String> sink) {
        try (ParquetFileReader reader = ParquetFileReader.open(InputFile.of(path))) {
            requireColumn(reader, path, column);
            try (ColumnReader values = reader.columnReader(column)) {
                while (values.nextBatch()) {
                    for (String text : values.getStrings()) {
                        if (text != null) {
                            sink.accept(text);
                        }
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof JgptException je) throw je;
            throw new JgptException(path + ": cannot read parquet column '" + column + "': " + e.getMessage(), e);
        }
    }

    /** Bytes of the column's values once decompressed, from the footer alone (for progress and ETA). */
    static long textBytes(Path path, String column) {
        try (ParquetFileReader reader = ParquetFileReader.open(InputFile.of(path))) {
            requireColumn(reader, path, column);
            long bytes = 0;
            for (RowGroup group : reader.getFileMetaData().rowGroups()) {
                for (ColumnChunk chunk : group.columns()) {
                    if (chunk.metaData().pathInSchema().matchesDottedName(column)) {
                        bytes += chunk.metaData().totalUncompressedSize();
                    }
                }
            }
            return bytes;
        } catch (IOException | RuntimeException e) {
            if (e instanceof JgptException je) throw je;
            throw new JgptException(path + ": not a readable parquet file: " + e.getMessage(), e);
        }
    }

    private static void requireColumn(ParquetFileReader reader, Path path, String column) {
        for (ColumnSchema c : reader.getFileSchema().getColumns()) {
            if (c.name().equals(column)) {
                return;
            }
        }
        throw new JgptException(path + ": no column '" + column + "' (columns: "
                + reader.getFileSchema().getColumns().stream().map(ColumnSchema::name).toList() + "); choose one with --text-field");
    }
}
