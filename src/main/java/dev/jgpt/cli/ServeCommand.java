package dev.jgpt.cli;

import com.sun.net.httpserver.HttpServer;
import dev.jgpt.JgptException;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.generate.LanguageModel;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.Inference;
import dev.jgpt.serve.Server;
import dev.jgpt.tensor.Parallel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.InetAddress;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code jgpt serve}: an OpenAI-compatible HTTP server for a model. */
@Command(name = "serve",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Serve a model over HTTP with OpenAI's API: POST /v1/completions, POST /v1/chat/completions,",
                "GET /v1/models, GET /health. Requests that arrive together are decoded together.",
                "Examples:",
                "  jgpt serve --model runs/quickstart",
                "  curl -s localhost:8080/v1/completions -H 'Content-Type: application/json' \\",
                "       -d '{\"prompt\": \"public static int\", \"max_tokens\": 40, \"temperature\": 0}'",
        })
public final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "A run directory (its newest checkpoint), a checkpoint directory, a HuggingFace directory "
                    + "(config.json + model.safetensors) or an llm.c .bin file.")
    Path model;

    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "HOST",
            description = "Address to listen on (0.0.0.0: every interface). Default: ${DEFAULT-VALUE}.")
    String host;

    @Option(names = "--port", defaultValue = "8080", paramLabel = "PORT", description = "Port (0: any free one). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--name", paramLabel = "ID", description = "The model's id in the API. Default: the model folder's (or file's) name.")
    String name;

    @Option(names = "--batch", defaultValue = "8", paramLabel = "N",
            description = "Sequences decoded together (each step reads the weights once for all). Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--queue", defaultValue = "32", paramLabel = "N",
            description = "Sequences that may wait for a free slot; past that a request gets 429. Default: ${DEFAULT-VALUE}.")
    int queue;

    @Option(names = "--max-tokens", defaultValue = "1024", paramLabel = "N",
            description = "The largest max_tokens a request may ask for (and a chat request's default). Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--dtype", paramLabel = "bf16|fp32",
            description = "How the weight matrices are read while decoding, as for generate. Default: bf16 on the CPU; "
                    + "the GPU decodes fp32 only.")
    String dtype;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda",
            description = "Where to decode: cpu, or cuda (the GPU, fp32, the key/value caches in its memory). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "Threads for the model. Default: all cores.")
    Integer threads;

    @Override
    public Integer call() throws IOException, InterruptedException {
        Inference.Precision precision = GenerateCommand.precision(dtype, device);
        if (batch < 1 || batch > Inference.CHUNK) throw new JgptException("--batch must be in [1, " + Inference.CHUNK + "], got " + batch);
        if (port < 0 || port > 65535) throw new JgptException("--port must be in [0, 65535], got " + port);
        if (threads != null && threads < 1) throw new JgptException("--threads must be >= 1, got " + threads);
        if (queue < 0) throw new JgptException("--queue must be >= 0, got " + queue);
        if (maxTokens < 1) throw new JgptException("--max-tokens must be >= 1, got " + maxTokens);
        // requests name the model by this id, and no client can name an empty one
        if (name != null && name.isBlank()) throw new JgptException("--name must be a non-blank id, got '" + name + "'");
        resolve(host); // before the model loads: a mistyped host fails at once
        String id = name != null ? name : defaultName(model);
        Cuda cuda = CudaCommand.openForDevice(device); // fails at once where there is no GPU
        HttpServer http;
        try { // before the model loads (seconds; on a GPU, more): a taken port is told at once
            http = Server.listen(host, port);
        } catch (SocketException e) { // a taken port, an address not on this machine
            if (cuda != null) cuda.close();
            throw new JgptException("--host " + host + " --port " + port + ": cannot listen there (" + e.getMessage() + ")");
        }
        LanguageModel lm;
        try {
            Gpt gpt = ModelFiles.load(model);
            if (threads != null) gpt.runOn(new Parallel(threads));
            lm = new LanguageModel(GenerateCommand.decoder(gpt, precision, cuda), batch);
        } catch (IOException | RuntimeException e) {
            http.stop(0);
            if (cuda != null) cuda.close();
            throw e;
        }
        // the decoder first (it frees its device memory), then the GPU
        Runnable release = () -> {
            lm.close();
            if (cuda != null) cuda.close();
        };
        Server server = new Server(lm, id, http, new Server.Limits(queue, maxTokens, 1 << 20));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            release.run();
            stopped.countDown();
        }));
        System.out.printf("serving %s (%s, %s weights%s, %d sequences together, %d may wait) at http://%s:%d/v1%n",
                id, model, precision, cuda == null ? "" : " on " + cuda.deviceName, batch, queue, host, server.port());
        System.out.flush();
        stopped.await();
        return 0;
    }

    /** Fails naming --host when it is neither an address nor a name that resolves to one. */
    static void resolve(String host) {
        try {
            InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new JgptException("--host " + host + ": cannot resolve it to an address (give an IP address such as 127.0.0.1 "
                    + "or 0.0.0.0, or a host name this machine knows)");
        }
    }

    /** The model's id: its folder's name, or its file's without .bin; a run's checkpoint folder counts as the run. */
    static String defaultName(Path model) {
        Path p = model.toAbsolutePath().normalize();
        String file = p.getFileName() == null ? "model" : p.getFileName().toString();
        if (file.equals("model") && p.getParent() != null && p.getParent().getParent() != null
                && p.getParent().getParent().getFileName() != null
                && p.getParent().getParent().getFileName().toString().equals("checkpoints")) {
            file = p.getParent().getFileName().toString(); // runs/NAME/checkpoints/step_N/model
        }
        return file.endsWith(".bin") ? file.substring(0, file.length() - 4) : file;
    }
}
