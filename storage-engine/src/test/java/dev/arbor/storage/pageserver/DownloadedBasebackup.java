package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.Basebackup;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.storage.image.SystemTar;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A basebackup as a compute receives it: the HTTP answer, the tar as GNU tar lists it, and its content
 * unpacked, with the recovery settings the pageserver wrote into {@code arbor-recovery.conf}.
 */
record DownloadedBasebackup(RawApi.Reply reply, Path tar, List<SystemTar.Entry> entries, Path extracted) {

  /** GETs the basebackup of a timeline ({@code query} without '?', may be empty) into {@code dir/name}. */
  static DownloadedBasebackup fetch(RawApi api, String tenant, String timeline, String query, Path dir, String name) {
    try {
      Path tar = dir.resolve(name + ".tar");
      String path = PageserverFixture.timelinePath(tenant, timeline) + "/basebackup" + (query.isEmpty() ? "" : "?" + query);
      RawApi.Reply reply = api.download(path, tar);
      assertThat(reply.status()).as(reply.describe()).isEqualTo(200);
      assertThat(reply.contentType()).isEqualTo("application/x-tar");
      List<SystemTar.Entry> entries = SystemTar.list(tar);
      Path extracted = Files.createDirectory(dir.resolve(name));
      SystemTar.extract(tar, extracted);
      return new DownloadedBasebackup(reply, tar, entries, extracted);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  List<String> paths() {
    return entries.stream().map(SystemTar.Entry::path).toList();
  }

  String recoveryConf() {
    try {
      return Files.readString(extracted.resolve(Basebackup.RECOVERY_CONF));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The WAL files recovery will read, as the basebackup lists them for prefetching. */
  String recoveryWal() {
    try {
      return Files.readString(extracted.resolve(Basebackup.RECOVERY_WAL));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The settings of arbor-recovery.conf, parsed as postgresql.conf is: {@code name = value}, quotes removed. */
  Map<String, String> recoverySettings() {
    Map<String, String> settings = new LinkedHashMap<>();
    for (String line : recoveryConf().split("\n")) {
      String l = line.strip();
      if (l.isEmpty() || l.startsWith("#")) {
        continue;
      }
      int eq = l.indexOf('=');
      assertThat(eq).as("a setting line: %s", l).isPositive();
      String value = l.substring(eq + 1).strip();
      if (value.length() >= 2 && value.startsWith("'") && value.endsWith("'")) {
        value = value.substring(1, value.length() - 1).replace("''", "'");
      }
      assertThat(settings.put(l.substring(0, eq).strip(), value)).as("set once: %s", l).isNull();
    }
    return settings;
  }
}
