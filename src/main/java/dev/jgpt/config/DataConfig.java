package dev.jgpt.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Where the token shards are and in which order training reads them.
 *
 * @param dir     folder of train/val token shards
 * @param source  corpus to prepare the shards from when the folder is missing (jdk-src: the JDK's
 *                own Java sources)
 * @param textField the JSONL field or parquet column that holds a source's text, as prepare's --text-field
 * @param order   sequential reads shards and batches in file order, as build-nanogpt does;
 *                shuffled permutes them with the seed
 * @param seed    seed of the shuffle
 */
public record DataConfig(Path dir, String source, String textField, Order order, long seed) {

    public enum Order {
        SEQUENTIAL, SHUFFLED;

        /** The YAML spelling. */
        public String yamlName() {
            return Key.yamlName(this);
        }
    }

    static final Section<DataConfig> SECTION = new Section<>("data", DataConfig.class, List.of(
            Key.path("dir", Path.of("data/jdk")),
            Key.text("source", "jdk-src").check(s -> !s.isBlank(), "the name of a corpus, like jdk-src"),
            Key.text("text_field", "text").check(s -> !s.isBlank(), "the name of a JSONL field or parquet column, like text"),
            Key.choice("order", Order.SEQUENTIAL),
            Key.longInteger("seed", 1337)));

    public static DataConfig defaults() {
        return SECTION.defaults();
    }

    static DataConfig from(Map<String, Object> tree, ConfigSource source) {
        return SECTION.read(SECTION.open(tree, source));
    }
}
