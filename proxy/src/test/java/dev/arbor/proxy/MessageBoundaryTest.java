package dev.arbor.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class MessageBoundaryTest {

  /** Two messages: 'D' with a 10-byte body, 'Z' with a 1-byte body. */
  private static byte[] twoMessages() {
    var out = new ByteArrayOutputStream();
    out.write('D');
    Wire.writeInt(out, 14);
    out.writeBytes(new byte[10]);
    out.write('Z');
    Wire.writeInt(out, 5);
    out.write('I');
    return out.toByteArray();
  }

  @Test
  void knowsWhereMessagesEndHoweverTheBytesAreCut() {
    byte[] all = twoMessages();
    for (int cut = 0; cut <= all.length; cut++) {
      var b = new ClientSession.MessageBoundary();
      b.advance(Arrays.copyOfRange(all, 0, cut), cut);
      boolean expected = cut == 0 || cut == 15 || cut == all.length;
      assertThat(b.atBoundary()).as("after %d bytes", cut).isEqualTo(expected);
      byte[] rest = Arrays.copyOfRange(all, cut, all.length);
      b.advance(rest, rest.length);
      assertThat(b.atBoundary()).as("after all, cut at %d", cut).isTrue();
    }
  }
}
