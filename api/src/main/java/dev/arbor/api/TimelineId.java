package dev.arbor.api;

/** A timeline (an Arbor Branch): 32 lowercase hex digits. */
public record TimelineId(String value) {
  public TimelineId {
    Id32.check("timeline", value);
  }

  public static TimelineId random() {
    return new TimelineId(Id32.random());
  }

  public static boolean isValid(String s) {
    return s != null && Id32.FORMAT.matcher(s).matches();
  }

  @Override
  public String toString() {
    return value;
  }
}
