package dev.jgpt;

import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JgptExceptionTest {
    /** A JSON error reads as one line that says where the text broke, with none of Gson's own advice. */
    @ParameterizedTest
    @ValueSource(strings = {"not json", "{\"a\": ", "{\"a\": 1,,}", "[1, 2", "{\"text\": \"x\" \"y\"}", "{\"a\": }"})
    void aJsonErrorIsOneLineSayingWhere(String text) {
        JsonParseException e = assertThrows(JsonParseException.class, () -> JsonParser.parseString(text));
        String reason = JgptException.jsonReason(e);
        assertFalse(reason.contains("\n"), reason);
        assertFalse(reason.contains("http"), reason);
        assertFalse(reason.contains("JsonReader"), reason);
        assertFalse(reason.contains("Exception"), reason);
        assertTrue(reason.contains("line 1 column"), reason);
    }
}
