package dev.arbor.api;

/** A tenant (an Arbor Project): 32 lowercase hex digits. */
public record TenantId(String value) {
  public TenantId {
    Id32.check("tenant", value);
  }

  public static TenantId random() {
    return new TenantId(Id32.random());
  }

  public static boolean isValid(String s) {
    return s != null && Id32.FORMAT.matcher(s).matches();
  }

  @Override
  public String toString() {
    return value;
  }
}
