package dev.jgpt.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** jgpt serve's command line: bad options and a taken port are one line and exit 1 (the server itself: ServerTest). */
class ServeCommandTest {
    static final String MODEL = EngineCommandsTest.TINY.resolve("hf").toString();

    @Test
    void badOptionsAreOneLine(@TempDir Path tmp) throws Exception {
        String[][] cases = {
                {"--model", tmp.resolve("nope").toString()},
                {"--model", MODEL, "--batch", "0"},
                {"--model", MODEL, "--batch", "65"},
                {"--model", MODEL, "--port", "70000"},
                {"--model", MODEL, "--queue", "-1"},
                {"--model", MODEL, "--max-tokens", "0"},
                {"--model", MODEL, "--dtype", "fp16"},
                {"--model", MODEL, "--host", "999.1.1.1"},
        };
        for (String[] args : cases) {
            String[] full = new String[args.length + 1];
            full[0] = "serve";
            System.arraycopy(args, 0, full, 1, args.length);
            EngineCommandsTest.Run r = EngineCommandsTest.run(full);
            assertEquals(1, r.exit(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().lines().count(), r.err());
        }
        assertEquals(2, EngineCommandsTest.run("serve").exit()); // --model is required
    }

    @Test
    void aTakenPortIsOneLine() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            EngineCommandsTest.Run r = EngineCommandsTest.run("serve", "--model", MODEL, "--port", String.valueOf(taken.getLocalPort()));
            assertEquals(1, r.exit(), r.err());
            assertTrue(r.err().contains("--port " + taken.getLocalPort()) && r.err().lines().count() == 1, r.err());
            // told before a model is loaded (seconds for GPT-2, more on a GPU): here, a model there is none of
            r = EngineCommandsTest.run("serve", "--model", "no/such/model", "--port", String.valueOf(taken.getLocalPort()));
            assertEquals(1, r.exit(), r.err());
            assertTrue(r.err().contains("--port " + taken.getLocalPort()) && r.err().lines().count() == 1, r.err());
        }
    }

    @Test
    void aHostThatDoesNotResolveIsNamed() {
        for (String host : new String[]{"999.1.1.1", "nosuchhost.invalid"}) {
            EngineCommandsTest.Run r = EngineCommandsTest.run("serve", "--model", MODEL, "--host", host, "--port", "0");
            assertEquals(1, r.exit(), r.err());
            assertTrue(r.err().startsWith("jgpt serve: --host " + host + ": cannot resolve") && r.err().lines().count() == 1, r.err());
        }
    }

    @Test
    @Timeout(60) // a server that starts anyway serves until stopped
    void aBlankNameIsRefused() {
        // an id no request can name: every request giving "model" would get 404
        for (String name : new String[]{"", "  "}) {
            EngineCommandsTest.Run r = EngineCommandsTest.run("serve", "--model", MODEL, "--name", name, "--port", "0");
            assertEquals(1, r.exit(), r.err());
            assertTrue(r.err().startsWith("jgpt serve: --name") && r.err().lines().count() == 1, r.err());
        }
    }

    @Test
    void theModelIdIsTheFolderOrTheRun() {
        assertEquals("quick", ServeCommand.defaultName(Path.of("runs/quick")));
        assertEquals("step_000100", ServeCommand.defaultName(Path.of("runs/quick/checkpoints/step_000100")));
        assertEquals("step_000100", ServeCommand.defaultName(Path.of("runs/quick/checkpoints/step_000100/model")));
        assertEquals("gpt2", ServeCommand.defaultName(Path.of("models/gpt2.bin")));
    }
}
