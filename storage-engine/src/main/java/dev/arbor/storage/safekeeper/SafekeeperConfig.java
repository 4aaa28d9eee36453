package dev.arbor.storage.safekeeper;

import dev.arbor.storage.objectstore.ObjectStore;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * @param id the safekeeper's name; also the {@code application_name} it streams with, which the compute's
 *     {@code synchronous_standby_names} lists
 * @param dataDir where it keeps WAL and its accepted generations, per timeline
 * @param objectStore where finished segments are offloaded
 */
public record SafekeeperConfig(String id, InetSocketAddress listen, Path dataDir, ObjectStore objectStore) {}
