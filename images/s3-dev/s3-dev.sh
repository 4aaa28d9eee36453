#!/bin/sh
# arbor-s3-dev's entry point: makes the bucket $S3_BUCKET (a directory of the filesystem backend) in
# $S3_DATA, writes S3Proxy's properties to /tmp and runs S3Proxy on port 9000 without authentication:
# every request is accepted, signed or not. Nothing but $S3_DATA and /tmp is written.
set -eu
data="${S3_DATA:-/var/lib/s3}"
bucket="${S3_BUCKET:-arbor}"
mkdir -p "$data/$bucket"
properties=/tmp/s3proxy.properties
printf '%s\n' \
  "s3proxy.endpoint=http://0.0.0.0:9000" \
  "s3proxy.authorization=none" \
  "jclouds.provider=filesystem-nio2" \
  "jclouds.filesystem.basedir=$data" > "$properties"
exec java -XX:+UseSerialGC -XX:-UsePerfData -Xmx384m -Djava.io.tmpdir=/tmp -jar /opt/s3proxy/s3proxy.jar \
  --properties "$properties"
