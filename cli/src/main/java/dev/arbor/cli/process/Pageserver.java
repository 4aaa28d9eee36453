package dev.arbor.cli.process;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.api.pageserver.CreateTimelineRequest;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.cli.CliException;
import dev.arbor.cli.home.LocalConfig;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.tls.ClientTls;
import java.io.IOException;
import java.net.ConnectException;
import java.time.Duration;
import java.util.List;

/**
 * The pageserver API as the CLI uses it; an unreachable pageserver becomes advice to run {@code arbor up}. Each
 * call is tried once (within 120 s, an initdb included): a user waiting at the terminal hears at once that
 * nothing runs there.
 */
public final class Pageserver {
  private final String url;
  private final PageserverClient client;

  /**
   * @param tokens what the calls send: an admin token of the installation
   * @param tls whom they trust: the installation's CA
   */
  public Pageserver(LocalConfig config, TokenSource tokens, ClientTls tls) {
    this.url = config.pageserverUrl();
    this.client = new PageserverClient(url, Duration.ofSeconds(120), RetryPolicy.NONE, tokens, tls);
  }

  public TenantInfo createTenant(int pgVersion) {
    return call(() -> client.createTenant(CreateTenantRequest.withRandomId(pgVersion)));
  }

  public void deleteTenant(String tenantId) {
    call(() -> {
      client.deleteTenant(new TenantId(tenantId));
      return null;
    });
  }

  public TimelineInfo branch(String tenantId, String ancestorTimelineId, String lsn) {
    var request = new CreateTimelineRequest(null, new TimelineId(ancestorTimelineId), lsn);
    return call(() -> client.createTimeline(new TenantId(tenantId), request));
  }

  public TimelineInfo timeline(String tenantId, String timelineId) {
    return call(() -> client.timeline(new TenantId(tenantId), new TimelineId(timelineId)));
  }

  public List<TimelineInfo> timelines(String tenantId) {
    return call(() -> client.timelines(new TenantId(tenantId)));
  }

  public void deleteTimeline(String tenantId, String timelineId) {
    call(() -> {
      client.deleteTimeline(new TenantId(tenantId), new TimelineId(timelineId));
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
