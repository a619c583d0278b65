package dev.jgpt.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** ./jgpt under the POSIX locale of a bare container: arguments and file names still reach jgpt as UTF-8. */
class LauncherLocaleTest {

    @Test
    void argumentsAndPathsAreUtf8UnderThePosixLocale(@TempDir Path tmp) throws Exception {
        Launcher jgpt = Launcher.install(tmp.resolve("launcher"));
        List<String> posix = List.of("env", "-u", "LANG", "-u", "LC_CTYPE", "LC_ALL=POSIX");
        Launcher.Child text = jgpt.start(tmp, posix, null, "tokenize", "--text", "h\u00e9llo \uD83D\uDE00");
        assertEquals(0, text.waitFor(60), text.err());
        assertEquals("71 2634 18798 30325 222\n", text.out()); // as under a UTF-8 locale, and as tiktoken has it

        Path file = Files.writeString(tmp.resolve("\u0434\u0430\u0442\u0430.txt"), "h\u00e9llo");
        Launcher.Child named = jgpt.start(tmp, posix, null, "tokenize", "--file", file.toString());
        assertEquals(0, named.waitFor(60), named.err());
        assertEquals("71 2634 18798\n", named.out());
    }
}
