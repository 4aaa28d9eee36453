package dev.arbor.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class LsnTest {

  @Test
  void parsesAndPrintsLikePostgres() {
    assertThat(Lsn.parse("0/16B5A50").value()).isEqualTo(0x16B5A50L);
    assertThat(Lsn.parse("1/0").value()).isEqualTo(1L << 32);
    assertThat(Lsn.parse("ffffffff/ffffffff").toString()).isEqualTo("FFFFFFFF/FFFFFFFF");
    assertThat(new Lsn(0x2_0000_00A0L).toString()).isEqualTo("2/A0");
  }

  @Test
  void ordersUnsigned() {
    assertThat(Lsn.parse("FFFFFFFF/0")).isGreaterThan(Lsn.parse("7FFFFFFF/FFFFFFFF"));
    assertThat(Lsn.parse("0/2").isAfter(Lsn.parse("0/1"))).isTrue();
  }

  @Test
  void rejectsMalformedTextWithAHint() {
    for (String bad : new String[] {"", "16B5A50", "0/", "/1", "0/1/2", "G/1", "123456789/0", " 0/1"}) {
      assertThatThrownBy(() -> Lsn.parse(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("e.g. 0/16B5A50");
    }
  }
}
