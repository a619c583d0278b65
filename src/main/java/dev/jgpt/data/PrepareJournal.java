package dev.jgpt.data;

import com.google.gson.Gson;
import dev.jgpt.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@value Prepare#JOURNAL}, the record a prepare keeps while it writes, so that one cut short is
 * cleaned up or continued: the first line is its {@link Settings} as JSON; then each shard's name,
 * written before the shard; then, once the shard is whole, a JSON {@link ShardWriter.Done} line
 * saying where the next shard begins. A continued prepare writes what an uninterrupted one would
 * have: the same settings on the same inputs give the same tokens.
 */
final class PrepareJournal {
    private static final Gson GSON = new Gson();

    /** Everything the shards depend on; a prepare continues only one made with the same settings. */
    record Settings(String source, String name, String format, long shardTokens, long valTokens, long maxTokens,
                    String textField, List<String> inputs) {
        /** The settings of reading {@code corpus} as {@code o} says, with a validation shard of {@code valTokens}. */
        static Settings of(Prepare.Options o, Corpus corpus, long valTokens) {
            List<String> inputs = new ArrayList<>();
            for (Corpus.Input input : corpus.inputs) inputs.add(input.path().getFileName() + " " + size(input));
            return new Settings(o.source(), corpus.name, o.format().extension, o.shardTokens(), valTokens, o.maxTokens(),
                    o.textField(), inputs);
        }

        private static long size(Corpus.Input input) {
            if (input.remote() != null && input.remote().size() >= 0) return input.remote().size();
            try {
                return Files.size(input.path());
            } catch (IOException e) {
                return -1;
            }
        }
    }

    private PrepareJournal() {
    }

    /** One line of JSON. */
    static String line(Object record) {
        return GSON.toJson(record);
    }

    /** Starts a journal: its settings, and no shard yet. */
    static void start(Path journal, Settings settings) throws IOException {
        Files.writeString(journal, line(settings) + "\n");
    }

    /**
     * Rewrites the journal of a prepare that goes on to hold just its settings and {@code kept}, so
     * that nothing a cut-off write left (half a line) stands in the way of the lines to come.
     */
    static void restart(Path journal, Settings settings, List<ShardWriter.Done> kept) throws IOException {
        StringBuilder sb = new StringBuilder(line(settings)).append('\n');
        for (ShardWriter.Done d : kept) sb.append(d.file()).append('\n').append(line(d)).append('\n');
        AtomicFiles.writeString(journal, sb.toString());
    }

    /**
     * The whole shards a cut-short prepare in {@code out} left, in order, when its journal was written
     * with these very {@code settings} and each shard is still there with its tokens; null when there
     * is nothing to continue (no journal, other settings, no whole shard, a shard gone or changed).
     */
    static List<ShardWriter.Done> continuable(Path out, Settings settings) {
        Path journal = out.resolve(Prepare.JOURNAL);
        if (!Files.isRegularFile(journal)) return null;
        try {
            List<String> lines = Files.readAllLines(journal);
            if (lines.isEmpty() || !lines.getFirst().startsWith("{") || !settings.equals(GSON.fromJson(lines.getFirst(), Settings.class))) {
                return null;
            }
            List<ShardWriter.Done> done = new ArrayList<>();
            for (int i = 1; i < lines.size(); i++) {
                String l = lines.get(i);
                if (!l.startsWith("{")) continue;
                ShardWriter.Done d;
                try {
                    d = GSON.fromJson(l, ShardWriter.Done.class);
                } catch (RuntimeException e) {
                    if (i == lines.size() - 1) break; // cut off while it was being written: its shard is not counted
                    throw e;
                }
                Path shard = out.resolve(d.file());
                if (d.file().contains("/") || d.file().contains("\\") || !Files.isRegularFile(shard)
                        || TokenShard.open(shard).size() != d.tokens()) {
                    return null;
                }
                done.add(d);
            }
            return done.isEmpty() ? null : done;
        } catch (IOException | RuntimeException e) {
            return null; // unreadable: start over, as for a journal without settings
        }
    }

    /** The names of the shards a journal says were begun (whole or not). */
    static List<String> shardNames(Path journal) throws IOException {
        List<String> names = new ArrayList<>();
        for (String line : Files.readAllLines(journal)) {
            if (!line.isBlank() && !line.startsWith("{")) names.add(line.strip());
        }
        return names;
    }
}
