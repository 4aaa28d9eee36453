package dev.arbor.api;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** Shared rules of Arbor's 32-hex-digit identifiers (tenants and timelines). */
final class Id32 {
  static final Pattern FORMAT = Pattern.compile("^[0-9a-f]{32}$");
  private static final SecureRandom RANDOM = new SecureRandom();

  private Id32() {}

  static String random() {
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  static String check(String kind, String value) {
    if (value == null || !FORMAT.matcher(value).matches()) {
      throw new IllegalArgumentException("'" + value + "' is not a " + kind + " id: expected 32 lowercase hex digits");
    }
    return value;
  }
}
