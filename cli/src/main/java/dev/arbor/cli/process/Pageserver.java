package dev.arbor.cli.process;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.LocalConfig;
import dev.arbor.client.HttpJson;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import java.io.IOException;
import java.net.ConnectException;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The pageserver API as the CLI uses it; an unreachable pageserver becomes advice to run {@code arbor up}. */
public final class Pageserver {
  private final String url;
  private final HttpJson http = new HttpJson(Duration.ofSeconds(120));

  public Pageserver(LocalConfig config) {
    this.url = config.pageserverUrl();
  }

  public TenantInfo createTenant(int pgVersion) {
    return call(() -> http.post(url + "/v1/tenant", Map.of("pg_version", pgVersion), TenantInfo.class));
  }

  public void deleteTenant(String tenantId) {
    call(() -> {
      http.delete(url + "/v1/tenant/" + tenantId);
      return null;
    });
  }

  public TimelineInfo branch(String tenantId, String ancestorTimelineId, String lsn) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("ancestor_timeline_id", ancestorTimelineId);
    if (lsn != null) {
      body.put("ancestor_lsn", lsn);
    }
    return call(() -> http.post(url + "/v1/tenant/" + tenantId + "/timeline", body, TimelineInfo.class));
  }

  public TimelineInfo timeline(String tenantId, String timelineId) {
    return call(() -> http.get(url + "/v1/tenant/" + tenantId + "/timeline/" + timelineId, TimelineInfo.class));
  }

  public List<TimelineInfo> timelines(String tenantId) {
    return Arrays.asList(call(() -> http.get(url + "/v1/tenant/" + tenantId + "/timeline", TimelineInfo[].class)));
  }

  public void deleteTimeline(String tenantId, String timelineId) {
    call(() -> {
      http.delete(url + "/v1/tenant/" + tenantId + "/timeline/" + timelineId);
      return null;
    });
  }

  @FunctionalInterface
  private interface Call<T> {
    T run() throws IOException;
  }

  private <T> T call(Call<T> c) {
    try {
      return c.run();
    } catch (ConnectException e) {
      throw new CliException("the storage engine is not running (no pageserver at " + url + "); start it with: ./arbor up");
    } catch (IOException e) {
      throw new CliException("the pageserver at " + url + " failed: " + e.getMessage(), e);
    }
  }
}
