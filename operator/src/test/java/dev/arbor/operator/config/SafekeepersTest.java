package dev.arbor.operator.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class SafekeepersTest {
  @Test
  void readsIdEqualsUrlInOrder() {
    assertThat(Safekeepers.parse(List.of("sk-0=http://a:7676", " sk-1 = http://b:7676 ")))
        .containsExactly(java.util.Map.entry("sk-0", "http://a:7676"), java.util.Map.entry("sk-1", "http://b:7676"));
  }

  @Test
  void aBadEntryNamesTheSettingAndTheFix() {
    assertThatThrownBy(() -> Safekeepers.parse(List.of("http://a:7676"))).hasMessageContaining("arbor.storage-engine.safekeepers")
        .hasMessageContaining("id=url");
    assertThatThrownBy(() -> Safekeepers.parse(List.of("sk-0=a:7676"))).hasMessageContaining("not an http URL");
    assertThatThrownBy(() -> Safekeepers.parse(List.of("sk-0=http://a:1", "sk-0=http://b:1"))).hasMessageContaining("listed twice");
  }
}
