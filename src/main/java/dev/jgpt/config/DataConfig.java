package dev.jgpt.config;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where the token shards are and in which order training reads them.
 *
 * @param dir     folder of train/val token shards
 * @param source  corpus to prepare the shards from when the folder is missing (jdk-src: the JDK's
 *                own Java sources)
 * @param order   sequential reads shards and batches in file order, as build-nanogpt does;
 *                shuffled permutes them with the seed
 * @param seed    seed of the shuffle
 */
public record DataConfig(Path dir, String source, Order order, long seed) {

    public enum Order {
        SEQUENTIAL, SHUFFLED;

        /** The YAML spelling. */
        public String yamlName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final List<String> KEYS = List.of("dir", "source", "order", "seed");
    private static final List<String> ORDERS = List.of("sequential", "shuffled");

    public static DataConfig defaults() {
        return new DataConfig(Path.of("data/jdk"), "jdk-src", Order.SEQUENTIAL, 1337);
    }

    static DataConfig from(Map<String, Object> tree, ConfigSource source) {
        ConfigSection s = ConfigSection.of(tree, "data", KEYS, source);
        DataConfig d = defaults();
        Path dir = s.path("dir", d.dir);
        String corpus = s.text("source", d.source);
        s.check(!corpus.isBlank(), "source", corpus, "the name of a corpus, like jdk-src");
        Order order = Order.valueOf(s.choice("order", d.order.yamlName(), ORDERS).toUpperCase(Locale.ROOT));
        long seed = s.longInteger("seed", d.seed);
        return new DataConfig(dir, corpus, order, seed);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dir", dir.toString());
        m.put("source", source);
        m.put("order", order.yamlName());
        m.put("seed", seed);
        return m;
    }
}
