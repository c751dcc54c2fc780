#!/usr/bin/env python3
"""boto3 against a running s3gw: every supported S3 operation, checked.

Environment (set by tests/tests/clients_matrix/boto3.rs):
  S3GW_ENDPOINT     http://127.0.0.1:PORT
  S3GW_ACCESS_KEY   access key id
  S3GW_SECRET_KEY   secret
  S3GW_BIG_MIB      size of the upload_fileobj/download_fileobj object (default 100)
  S3GW_VHOST_DOMAIN service domain for the virtual-host checks (default s3.localhost;
                    empty string skips them). Names under it are resolved to 127.0.0.1
                    by patching socket.getaddrinfo in this process only.
  S3GW_CHECKS       comma-separated group names to run (default: all)

Prints one `PASS name` / `FAIL name: why` line per check and exits non-zero
if any check failed. Each group uses its own bucket(s), created and removed.
"""

import hashlib
import io
import os
import socket
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3GW_ENDPOINT"].rstrip("/")
ACCESS_KEY = os.environ["S3GW_ACCESS_KEY"]
SECRET_KEY = os.environ["S3GW_SECRET_KEY"]
BIG_MIB = int(os.environ.get("S3GW_BIG_MIB", "100"))
VHOST_DOMAIN = os.environ.get("S3GW_VHOST_DOMAIN", "s3.localhost")
ONLY = {c for c in os.environ.get("S3GW_CHECKS", "").split(",") if c}
PORT = ENDPOINT.rsplit(":", 1)[1]

NASTY_KEY = "nasty/a b/ü+%&=?#\\ 日本語 😀.txt"
KEY_1024 = "k/" + "x" * 1022

failures = []
passes = 0


def check(name, cond, detail=""):
    global passes
    if cond:
        passes += 1
        print(f"PASS {name}", flush=True)
    else:
        failures.append(name)
        print(f"FAIL {name}: {detail}", flush=True)


def expect_error(name, fn, code, status=None):
    """fn() must raise ClientError with this code (and HTTP status)."""
    try:
        fn()
    except ClientError as e:
        got = e.response.get("Error", {}).get("Code")
        got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        ok = got == code and (status is None or got_status == status)
        check(name, ok, f"expected {code}/{status}, got {got}/{got_status}")
        return
    check(name, False, f"expected {code}, got success")


def client(endpoint=None, s3=None, **config):
    cfg = {"retries": {"max_attempts": 2, "mode": "standard"}}
    cfg.update(config)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint or ENDPOINT,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3=s3 or {"addressing_style": "path"}, **cfg),
    )


def new_bucket(s3, prefix):
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def empty_and_delete(s3, bucket):
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        for up in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
        s3.delete_bucket(Bucket=bucket)
    except ClientError as e:
        print(f"note: cleanup of {bucket}: {e}", flush=True)


def md5(b):
    return hashlib.md5(b).hexdigest()


def body_of(resp):
    return resp["Body"].read()


def data(n, seed):
    """Deterministic bytes of length n."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:n])


# --------------------------------------------------------------------- groups


def g_buckets(s3):
    name = f"b3-buckets-{uuid.uuid4().hex[:12]}"
    r = s3.create_bucket(Bucket=name)
    check("create_bucket", r["ResponseMetadata"]["HTTPStatusCode"] == 200)
    # S3 answers BucketAlreadyOwnedByYou (409), or 200 in us-east-1 (legacy).
    try:
        s3.create_bucket(Bucket=name)
        check("create_bucket twice (200, us-east-1 legacy)", True)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        check("create_bucket twice -> BucketAlreadyOwnedByYou",
              code == "BucketAlreadyOwnedByYou", code)
    check("head_bucket", s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200)
    expect_error("head_bucket missing -> 404",
                 lambda: s3.head_bucket(Bucket=name + "-nope"), "404", 404)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check("list_buckets lists it", name in names, names)
    loc = s3.get_bucket_location(Bucket=name)
    check("get_bucket_location", "LocationConstraint" in loc, loc)
    ver = s3.get_bucket_versioning(Bucket=name)
    check("get_bucket_versioning (never enabled)", "Status" not in ver, ver)
    acl = s3.get_bucket_acl(Bucket=name)
    check("get_bucket_acl FULL_CONTROL",
          any(g["Permission"] == "FULL_CONTROL" for g in acl["Grants"]), acl)
    s3.put_bucket_acl(Bucket=name, ACL="private")
    check("put_bucket_acl private", True)
    expect_error("get_bucket_cors -> NoSuchCORSConfiguration",
                 lambda: s3.get_bucket_cors(Bucket=name), "NoSuchCORSConfiguration", 404)
    expect_error("get_bucket_policy -> NoSuchBucketPolicy",
                 lambda: s3.get_bucket_policy(Bucket=name), "NoSuchBucketPolicy", 404)
    expect_error("get_bucket_tagging -> NoSuchTagSet",
                 lambda: s3.get_bucket_tagging(Bucket=name), "NoSuchTagSet", 404)
    expect_error("get_bucket_lifecycle_configuration -> NoSuchLifecycleConfiguration",
                 lambda: s3.get_bucket_lifecycle_configuration(Bucket=name),
                 "NoSuchLifecycleConfiguration", 404)
    s3.put_object(Bucket=name, Key="x", Body=b"x")
    expect_error("delete_bucket non-empty -> BucketNotEmpty",
                 lambda: s3.delete_bucket(Bucket=name), "BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="x")
    s3.delete_bucket(Bucket=name)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check("delete_bucket", name not in names, names)
    expect_error("get_object in missing bucket -> NoSuchBucket",
                 lambda: s3.get_object(Bucket=name, Key="x"), "NoSuchBucket", 404)


def g_objects(s3):
    b = new_bucket(s3, "b3-objects")
    try:
        payload = data(70_000, 1)
        r = s3.put_object(
            Bucket=b, Key=NASTY_KEY, Body=payload,
            ContentType="text/x-s3gw", CacheControl="max-age=60",
            ContentDisposition='attachment; filename="a.txt"', ContentEncoding="identity",
            ContentLanguage="en", Metadata={"color": "blue", "multi-word": "a b"},
        )
        check("put_object ETag is MD5", r["ETag"] == f'"{md5(payload)}"', r["ETag"])
        h = s3.head_object(Bucket=b, Key=NASTY_KEY)
        check("head_object size", h["ContentLength"] == len(payload), h["ContentLength"])
        check("head_object ETag", h["ETag"] == f'"{md5(payload)}"', h["ETag"])
        check("head_object Content-Type", h["ContentType"] == "text/x-s3gw", h["ContentType"])
        check("head_object Cache-Control", h.get("CacheControl") == "max-age=60", h.get("CacheControl"))
        check("head_object Content-Disposition",
              h.get("ContentDisposition") == 'attachment; filename="a.txt"', h.get("ContentDisposition"))
        check("head_object Content-Language", h.get("ContentLanguage") == "en", h.get("ContentLanguage"))
        check("head_object metadata",
              h["Metadata"] == {"color": "blue", "multi-word": "a b"}, h["Metadata"])
        g = s3.get_object(Bucket=b, Key=NASTY_KEY)
        check("get_object bytes (nasty key)", body_of(g) == payload)
        g = s3.get_object(Bucket=b, Key=NASTY_KEY, Range="bytes=100-199")
        check("get_object Range a-b", body_of(g) == payload[100:200] and g["ContentRange"] ==
              f"bytes 100-199/{len(payload)}", g.get("ContentRange"))
        g = s3.get_object(Bucket=b, Key=NASTY_KEY, Range="bytes=-10")
        check("get_object Range suffix", body_of(g) == payload[-10:])
        g = s3.get_object(Bucket=b, Key=NASTY_KEY, Range="bytes=69990-")
        check("get_object Range open", body_of(g) == payload[69990:])
        expect_error("get_object Range unsatisfiable -> InvalidRange",
                     lambda: s3.get_object(Bucket=b, Key=NASTY_KEY, Range="bytes=900000-"),
                     "InvalidRange", 416)
        g = s3.get_object(Bucket=b, Key=NASTY_KEY, ResponseContentType="application/x-over",
                          ResponseContentDisposition="inline")
        check("get_object response-content-* overrides",
              g["ContentType"] == "application/x-over" and g["ContentDisposition"] == "inline",
              (g["ContentType"], g.get("ContentDisposition")))
        # conditional reads against the S3 ETag
        etag = h["ETag"]
        g = s3.get_object(Bucket=b, Key=NASTY_KEY, IfMatch=etag)
        check("get_object If-Match ok", body_of(g) == payload)
        expect_error("get_object If-Match other -> 412",
                     lambda: s3.get_object(Bucket=b, Key=NASTY_KEY, IfMatch='"0000"'),
                     "PreconditionFailed", 412)
        expect_error("get_object If-None-Match same -> 304",
                     lambda: s3.get_object(Bucket=b, Key=NASTY_KEY, IfNoneMatch=etag), "304", 304)
        expect_error("head_object If-None-Match same -> 304",
                     lambda: s3.head_object(Bucket=b, Key=NASTY_KEY, IfNoneMatch=etag), "304", 304)
        # 1024-byte key, empty object
        s3.put_object(Bucket=b, Key=KEY_1024, Body=b"long")
        check("1024-byte key round trip", body_of(s3.get_object(Bucket=b, Key=KEY_1024)) == b"long")
        s3.put_object(Bucket=b, Key="empty", Body=b"")
        g = s3.get_object(Bucket=b, Key="empty")
        check("0-byte object", body_of(g) == b"" and g["ETag"] == f'"{md5(b"")}"', g["ETag"])
        acl = s3.get_object_acl(Bucket=b, Key="empty")
        check("get_object_acl FULL_CONTROL",
              any(gr["Permission"] == "FULL_CONTROL" for gr in acl["Grants"]), acl)
        s3.put_object_acl(Bucket=b, Key="empty", ACL="private")
        check("put_object_acl private", True)
        expect_error("get_object missing -> NoSuchKey",
                     lambda: s3.get_object(Bucket=b, Key="missing"), "NoSuchKey", 404)
        r = s3.delete_object(Bucket=b, Key=NASTY_KEY)
        check("delete_object 204", r["ResponseMetadata"]["HTTPStatusCode"] == 204)
        expect_error("deleted object -> NoSuchKey",
                     lambda: s3.get_object(Bucket=b, Key=NASTY_KEY), "NoSuchKey", 404)
        r = s3.delete_object(Bucket=b, Key=NASTY_KEY)
        check("delete_object missing is 204", r["ResponseMetadata"]["HTTPStatusCode"] == 204)
    finally:
        empty_and_delete(s3, b)


def g_conditional(s3):
    b = new_bucket(s3, "b3-cond")
    try:
        r = s3.put_object(Bucket=b, Key="c", Body=b"one", IfNoneMatch="*")
        check("put If-None-Match * creates", r["ETag"] == f'"{md5(b"one")}"')
        expect_error("put If-None-Match * again -> 412 PreconditionFailed",
                     lambda: s3.put_object(Bucket=b, Key="c", Body=b"two", IfNoneMatch="*"),
                     "PreconditionFailed", 412)
        check("failed conditional put kept the old body",
              body_of(s3.get_object(Bucket=b, Key="c")) == b"one")
        r = s3.put_object(Bucket=b, Key="c", Body=b"three", IfMatch=f'"{md5(b"one")}"')
        check("put If-Match current ETag replaces", r["ETag"] == f'"{md5(b"three")}"')
        expect_error("put If-Match stale ETag -> 412",
                     lambda: s3.put_object(Bucket=b, Key="c", Body=b"four",
                                           IfMatch=f'"{md5(b"one")}"'),
                     "PreconditionFailed", 412)
        check("stale If-Match kept the body", body_of(s3.get_object(Bucket=b, Key="c")) == b"three")
        expect_error("put If-Match on missing key -> NoSuchKey",
                     lambda: s3.put_object(Bucket=b, Key="nope", Body=b"x", IfMatch='"abc"'),
                     "NoSuchKey", 404)
    finally:
        empty_and_delete(s3, b)


def g_copy(s3):
    b = new_bucket(s3, "b3-copy")
    b2 = new_bucket(s3, "b3-copy2")
    try:
        payload = data(12_345, 2)
        s3.put_object(Bucket=b, Key="src ü+&.bin", Body=payload, Metadata={"k": "v"},
                      ContentType="application/x-src")
        r = s3.copy_object(Bucket=b, Key="dst.bin", CopySource={"Bucket": b, "Key": "src ü+&.bin"})
        check("copy_object ETag", r["CopyObjectResult"]["ETag"] == f'"{md5(payload)}"', r)
        h = s3.head_object(Bucket=b, Key="dst.bin")
        check("copy_object COPY keeps metadata",
              h["Metadata"] == {"k": "v"} and h["ContentType"] == "application/x-src", h)
        check("copy_object bytes", body_of(s3.get_object(Bucket=b, Key="dst.bin")) == payload)
        s3.copy_object(Bucket=b2, Key="x/replaced", CopySource={"Bucket": b, "Key": "src ü+&.bin"},
                       MetadataDirective="REPLACE", Metadata={"new": "1"}, ContentType="text/plain")
        h = s3.head_object(Bucket=b2, Key="x/replaced")
        check("copy_object cross-bucket REPLACE metadata",
              h["Metadata"] == {"new": "1"} and h["ContentType"] == "text/plain", h)
        check("cross-bucket copy bytes",
              body_of(s3.get_object(Bucket=b2, Key="x/replaced")) == payload)
        expect_error("copy_object onto itself without REPLACE -> InvalidRequest",
                     lambda: s3.copy_object(Bucket=b, Key="dst.bin",
                                            CopySource={"Bucket": b, "Key": "dst.bin"}),
                     "InvalidRequest", 400)
        expect_error("copy_object CopySourceIfMatch stale -> 412",
                     lambda: s3.copy_object(Bucket=b, Key="d2", CopySourceIfMatch='"0"',
                                            CopySource={"Bucket": b, "Key": "dst.bin"}),
                     "PreconditionFailed", 412)
        expect_error("copy_object missing source -> NoSuchKey",
                     lambda: s3.copy_object(Bucket=b, Key="d3",
                                            CopySource={"Bucket": b, "Key": "missing"}),
                     "NoSuchKey", 404)
    finally:
        empty_and_delete(s3, b)
        empty_and_delete(s3, b2)


def g_list(s3):
    b = new_bucket(s3, "b3-list")
    try:
        keys = sorted([f"p/{i:03d} ü+%&.txt" for i in range(120)] +
                      [f"q/sub{i}/leaf" for i in range(5)] + ["top", NASTY_KEY, "a%2Fb", "sp ace"])
        for k in keys:
            s3.put_object(Bucket=b, Key=k, Body=k.encode())
        got = []
        pages = 0
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=b, PaginationConfig={"PageSize": 25}):
            pages += 1
            got += [o["Key"] for o in page.get("Contents", [])]
        check("list_objects_v2 paginator: every key, in order", got == keys, (len(got), len(keys)))
        check("list_objects_v2 paginator: several pages", pages == -(-len(keys) // 25), pages)
        got = []
        for page in s3.get_paginator("list_objects").paginate(
                Bucket=b, PaginationConfig={"PageSize": 30}):
            got += [o["Key"] for o in page.get("Contents", [])]
        check("list_objects (v1) paginator: every key", got == keys, (len(got), len(keys)))
        r = s3.list_objects_v2(Bucket=b, Delimiter="/")
        prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        top = [o["Key"] for o in r.get("Contents", [])]
        check("delimiter / CommonPrefixes", prefixes == ["nasty/", "p/", "q/"], prefixes)
        check("delimiter / top-level keys", top == ["a%2Fb", "sp ace", "top"], top)
        r = s3.list_objects_v2(Bucket=b, Prefix="q/", Delimiter="/")
        check("prefix + delimiter", [p["Prefix"] for p in r.get("CommonPrefixes", [])] ==
              [f"q/sub{i}/" for i in range(5)], r.get("CommonPrefixes"))
        r = s3.list_objects_v2(Bucket=b, StartAfter="p/119 ü+%&.txt", MaxKeys=3)
        check("start-after + max-keys", [o["Key"] for o in r["Contents"]] == keys[keys.index(
            "p/119 ü+%&.txt") + 1:][:3], r.get("Contents"))
        r = s3.list_objects_v2(Bucket=b, MaxKeys=0)
        check("max-keys 0", r.get("KeyCount") == 0 and "Contents" not in r, r.get("KeyCount"))
        # Asked for explicitly, encoding-type=url reaches the caller encoded
        # (botocore decodes only when it added the parameter itself).
        r = s3.list_objects_v2(Bucket=b, Prefix="nasty/", EncodingType="url")
        raw = [o["Key"] for o in r["Contents"]]
        # S3 form-encodes (space as `+`); botocore decodes with unquote_plus.
        check("encoding-type=url: keys percent-encoded, decode to the key",
              [urllib.parse.unquote_plus(k) for k in raw] == [NASTY_KEY] and raw != [NASTY_KEY], raw)
        r = s3.list_objects_v2(Bucket=b, Prefix="p/", MaxKeys=1, FetchOwner=True)
        check("fetch-owner", "Owner" in r["Contents"][0], r["Contents"][0])
        v = s3.list_object_versions(Bucket=b, Prefix="q/")
        check("list_object_versions: current objects as null versions",
              [x["Key"] for x in v.get("Versions", [])] == [f"q/sub{i}/leaf" for i in range(5)]
              and all(x["VersionId"] == "null" and x["IsLatest"] for x in v["Versions"]), v)
        # delete_objects: several keys incl. nasty and missing ones
        dels = [k for k in keys if k.startswith("p/")][:50] + [NASTY_KEY, "never-existed"]
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in dels]})
        deleted = sorted(d["Key"] for d in r.get("Deleted", []))
        check("delete_objects reports every key", deleted == sorted(dels) and not r.get("Errors"),
              (len(deleted), r.get("Errors")))
        left = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=b)
                for o in p.get("Contents", [])]
        check("delete_objects removed them", left == [k for k in keys if k not in dels],
              (len(left),))
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "top"}], "Quiet": True})
        check("delete_objects quiet", not r.get("Deleted") and not r.get("Errors"), r)
    finally:
        empty_and_delete(s3, b)


class HashingWriter(io.RawIOBase):
    """A non-seekable sink that only hashes (download_fileobj target)."""

    def __init__(self):
        self.h = hashlib.md5()
        self.n = 0

    def writable(self):
        return True

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return len(b)


class PatternReader(io.RawIOBase):
    """A readable, non-seekable stream of n deterministic bytes (a 1 MiB
    block repeated), never held in memory as a whole."""

    def __init__(self, n):
        self.size = n
        self.pos = 0
        self.h = hashlib.md5()
        self.block = data(1 << 20, 42)

    def readable(self):
        return True

    def readinto(self, buf):
        want = min(len(buf), self.size - self.pos)
        view = memoryview(buf)
        done = 0
        while done < want:
            off = (self.pos + done) % len(self.block)
            k = min(want - done, len(self.block) - off)
            view[done:done + k] = self.block[off:off + k]
            done += k
        self.h.update(view[:done])
        self.pos += done
        return done


def g_transfer(s3):
    b = new_bucket(s3, "b3-transfer")
    try:
        size = BIG_MIB * 1024 * 1024
        src = PatternReader(size)
        s3.upload_fileobj(src, b, "big/100MiB ü.bin")  # default TransferConfig: multipart
        want = src.h.hexdigest()
        h = s3.head_object(Bucket=b, Key="big/100MiB ü.bin")
        parts = -(-size // TransferConfig().multipart_chunksize)
        check("upload_fileobj size", h["ContentLength"] == size, h["ContentLength"])
        check("upload_fileobj multipart ETag -N",
              h["ETag"].strip('"').endswith(f"-{parts}"), h["ETag"])
        sink = HashingWriter()
        s3.download_fileobj(b, "big/100MiB ü.bin", sink)
        check("download_fileobj bytes == uploaded bytes",
              sink.n == size and sink.h.hexdigest() == want, (sink.n, sink.h.hexdigest(), want))
        g = s3.get_object(Bucket=b, Key="big/100MiB ü.bin", PartNumber=1)
        check("get_object partNumber=1",
              g["ContentLength"] == TransferConfig().multipart_chunksize and
              g.get("PartsCount") == parts, (g["ContentLength"], g.get("PartsCount")))
        g["Body"].close()
    finally:
        empty_and_delete(s3, b)


def g_multipart(s3):
    b = new_bucket(s3, "b3-mpu")
    try:
        key = "mpu/ü key+&.bin"
        p1, p2 = data(5 * 1024 * 1024, 3), data(1_000_000, 4)
        up = s3.create_multipart_upload(Bucket=b, Key=key, ContentType="application/x-mpu",
                                        Metadata={"m": "1"})
        uid = up["UploadId"]
        e1 = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
        e2 = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]
        check("upload_part ETags are MD5s", (e1, e2) == (f'"{md5(p1)}"', f'"{md5(p2)}"'))
        parts = s3.list_parts(Bucket=b, Key=key, UploadId=uid)["Parts"]
        check("list_parts", [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] ==
              [(1, e1, len(p1)), (2, e2, len(p2))], parts)
        ups = s3.list_multipart_uploads(Bucket=b).get("Uploads", [])
        check("list_multipart_uploads", [(u["Key"], u["UploadId"]) for u in ups] == [(key, uid)], ups)
        lst = s3.list_objects_v2(Bucket=b)
        check("parts are hidden from listings", lst.get("KeyCount") == 0, lst.get("Contents"))
        expect_error("complete with a wrong ETag -> InvalidPart",
                     lambda: s3.complete_multipart_upload(
                         Bucket=b, Key=key, UploadId=uid,
                         MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                    {"PartNumber": 2, "ETag": '"00"'}]}),
                     "InvalidPart", 400)
        r = s3.complete_multipart_upload(
            Bucket=b, Key=key, UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        want_etag = '"%s-2"' % hashlib.md5(bytes.fromhex(md5(p1)) + bytes.fromhex(md5(p2))).hexdigest()
        check("complete_multipart_upload ETag", r["ETag"] == want_etag, (r["ETag"], want_etag))
        g = s3.get_object(Bucket=b, Key=key)
        check("multipart object bytes", body_of(g) == p1 + p2)
        check("multipart object metadata",
              g["ContentType"] == "application/x-mpu" and g["Metadata"] == {"m": "1"}, g["Metadata"])
        check("no uploads left", not s3.list_multipart_uploads(Bucket=b).get("Uploads"))
        # abort
        uid2 = s3.create_multipart_upload(Bucket=b, Key="aborted")["UploadId"]
        s3.upload_part(Bucket=b, Key="aborted", UploadId=uid2, PartNumber=1, Body=b"x")
        s3.abort_multipart_upload(Bucket=b, Key="aborted", UploadId=uid2)
        expect_error("list_parts after abort -> NoSuchUpload",
                     lambda: s3.list_parts(Bucket=b, Key="aborted", UploadId=uid2), "NoSuchUpload", 404)
        expect_error("aborted upload left no object",
                     lambda: s3.head_object(Bucket=b, Key="aborted"), "404", 404)
        # upload_part_copy with a range
        uid3 = s3.create_multipart_upload(Bucket=b, Key="copied")["UploadId"]
        c1 = s3.upload_part_copy(Bucket=b, Key="copied", UploadId=uid3, PartNumber=1,
                                 CopySource={"Bucket": b, "Key": key},
                                 CopySourceRange=f"bytes=0-{len(p1) - 1}")["CopyPartResult"]["ETag"]
        c2 = s3.upload_part_copy(Bucket=b, Key="copied", UploadId=uid3, PartNumber=2,
                                 CopySource={"Bucket": b, "Key": key},
                                 CopySourceRange=f"bytes={len(p1)}-{len(p1) + 99}")["CopyPartResult"]["ETag"]
        s3.complete_multipart_upload(Bucket=b, Key="copied", UploadId=uid3, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": c1}, {"PartNumber": 2, "ETag": c2}]})
        check("upload_part_copy ranges assembled",
              body_of(s3.get_object(Bucket=b, Key="copied")) == p1 + p2[:100])
        expect_error("too-small non-last part -> EntityTooSmall", lambda: small_parts(s3, b),
                     "EntityTooSmall", 400)
    finally:
        empty_and_delete(s3, b)


def small_parts(s3, b):
    uid = s3.create_multipart_upload(Bucket=b, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=b, Key="small", UploadId=uid, PartNumber=1, Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=b, Key="small", UploadId=uid, PartNumber=2, Body=b"b")["ETag"]
    try:
        s3.complete_multipart_upload(Bucket=b, Key="small", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    finally:
        try:
            s3.abort_multipart_upload(Bucket=b, Key="small", UploadId=uid)
        except ClientError:
            pass


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# Presigned PUTs: sign the Content-Type the HTTP client will send (urllib
# adds one to every body), as real users of presigned uploads do.
OCTET = {"Content-Type": "application/octet-stream"}


def tamper_signature(url):
    """The same URL with one character of its signature changed (SigV4
    `X-Amz-Signature` hex or SigV2 `Signature` base64)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    out = []
    for k, v in query:
        if k in ("X-Amz-Signature", "Signature"):
            v = ("1" if v[0] != "1" else "2") + v[1:]
        out.append((k, v))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(out)))


def g_presign(s3_default):
    # boto3 presigns with SigV2 by default (us-east-1, legacy); ask for
    # SigV4 explicitly too.
    s3v4 = client(signature_version="s3v4")
    b = new_bucket(s3_default, "b3-presign")
    try:
        for label, s3, marker in (("default", s3_default, "Signature="),
                                  ("s3v4", s3v4, "X-Amz-Signature=")):
            payload = data(33_333, 5)
            put_url = s3.generate_presigned_url(
                "put_object",
                Params={"Bucket": b, "Key": NASTY_KEY, "ContentType": OCTET["Content-Type"]},
                ExpiresIn=600)
            check(f"presign {label}: URL has {marker}", marker in put_url, put_url)
            status, _ = http("PUT", put_url, payload, OCTET)
            check(f"presigned PUT {label} with urllib", status == 200, status)
            get_url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": NASTY_KEY},
                                                ExpiresIn=600)
            status, got = http("GET", get_url)
            check(f"presigned GET {label} with urllib: bytes", status == 200 and got == payload, status)
            status, body = http("GET", tamper_signature(get_url))
            check(f"tampered presigned GET {label} -> 403 SignatureDoesNotMatch",
                  status == 403 and b"SignatureDoesNotMatch" in body, (status, body[:200]))
            s3.delete_object(Bucket=b, Key=NASTY_KEY)
    finally:
        empty_and_delete(s3_default, b)


def g_sigv2(_s3):
    s3 = client(signature_version="s3")
    b = new_bucket(s3, "b3-sigv2")
    try:
        payload = data(20_000, 6)
        s3.put_object(Bucket=b, Key=NASTY_KEY, Body=payload, Metadata={"v2": "yes"})
        g = s3.get_object(Bucket=b, Key=NASTY_KEY)
        check("SigV2 put/get bytes", body_of(g) == payload)
        check("SigV2 metadata", g["Metadata"] == {"v2": "yes"}, g["Metadata"])
        keys = [o["Key"] for o in s3.list_objects(Bucket=b)["Contents"]]
        check("SigV2 list_objects", keys == [NASTY_KEY], keys)
        check("SigV2 list_buckets", b in [x["Name"] for x in s3.list_buckets()["Buckets"]])
        s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": NASTY_KEY})
        check("SigV2 copy_object", body_of(s3.get_object(Bucket=b, Key="copy")) == payload)
        url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": NASTY_KEY},
                                        ExpiresIn=600)
        check("SigV2 presigned URL shape", "Signature=" in url and "AWSAccessKeyId=" in url, url)
        status, got = http("GET", url)
        check("SigV2 presigned GET with urllib", status == 200 and got == payload, status)
        put_url = s3.generate_presigned_url(
            "put_object", Params={"Bucket": b, "Key": "v2put", "ContentType": OCTET["Content-Type"]},
            ExpiresIn=600)
        status, _ = http("PUT", put_url, b"via v2 presigned put", OCTET)
        check("SigV2 presigned PUT with urllib", status == 200 and
              body_of(s3.get_object(Bucket=b, Key="v2put")) == b"via v2 presigned put", status)
        up = s3.create_multipart_upload(Bucket=b, Key="v2mpu")["UploadId"]
        e = s3.upload_part(Bucket=b, Key="v2mpu", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
        s3.complete_multipart_upload(Bucket=b, Key="v2mpu", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
        check("SigV2 multipart (subresources signed)",
              body_of(s3.get_object(Bucket=b, Key="v2mpu")) == b"part")
        expired = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": NASTY_KEY},
                                            ExpiresIn=-10)
        status, body = http("GET", expired)
        check("SigV2 expired presigned GET -> 403 AccessDenied",
              status == 403 and b"AccessDenied" in body, (status, body[:300]))
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "copy"}, {"Key": "v2put"}]})
        check("SigV2 delete_objects", len(r.get("Deleted", [])) == 2, r)
        bad = boto3.session.Session().client(
            "s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY + "x", region_name="us-east-1",
            config=Config(signature_version="s3", s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}))
        expect_error("SigV2 wrong secret -> SignatureDoesNotMatch",
                     lambda: bad.list_objects(Bucket=b), "SignatureDoesNotMatch", 403)
    finally:
        empty_and_delete(s3, b)


def g_auth(s3):
    bad = boto3.session.Session().client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id="0" * 32,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    expect_error("unknown access key -> InvalidAccessKeyId",
                 lambda: bad.list_buckets(), "InvalidAccessKeyId", 403)
    bad = boto3.session.Session().client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY + "x", region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    expect_error("wrong secret -> SignatureDoesNotMatch",
                 lambda: bad.list_buckets(), "SignatureDoesNotMatch", 403)
    status, body = http("GET", ENDPOINT + "/")
    check("anonymous request -> 403 AccessDenied", status == 403 and b"AccessDenied" in body, status)


def g_vhost(_s3):
    """Virtual-host addressing: <bucket>.<domain> resolved to 127.0.0.1 by a
    resolver override in this process (no system change)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if isinstance(host, str) and (host == VHOST_DOMAIN or host.endswith("." + VHOST_DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = fake
    try:
        for sig in ("s3v4", "s3"):
            s3 = client(endpoint=f"http://{VHOST_DOMAIN}:{PORT}", signature_version=sig,
                        s3={"addressing_style": "virtual"})
            b = new_bucket(s3, f"b3-vhost-{sig}")
            try:
                payload = data(4096, 7)
                s3.put_object(Bucket=b, Key=NASTY_KEY, Body=payload)
                check(f"vhost {sig}: get bytes",
                      body_of(s3.get_object(Bucket=b, Key=NASTY_KEY)) == payload)
                keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]]
                check(f"vhost {sig}: list", keys == [NASTY_KEY], keys)
                url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": NASTY_KEY})
                check(f"vhost {sig}: presigned URL is virtual-host",
                      url.startswith(f"http://{b}.{VHOST_DOMAIN}:{PORT}/"), url)
                status, got = http("GET", url)
                check(f"vhost {sig}: presigned GET", status == 200 and got == payload, status)
            finally:
                empty_and_delete(s3, b)
    finally:
        socket.getaddrinfo = real


GROUPS = [
    ("buckets", g_buckets),
    ("objects", g_objects),
    ("conditional", g_conditional),
    ("copy", g_copy),
    ("list", g_list),
    ("multipart", g_multipart),
    ("presign", g_presign),
    ("sigv2", g_sigv2),
    ("auth", g_auth),
    ("vhost", g_vhost),
    ("transfer", g_transfer),
]


def main():
    s3 = client()
    for name, fn in GROUPS:
        if ONLY and name not in ONLY:
            continue
        if name == "vhost" and not VHOST_DOMAIN:
            continue
        print(f"== {name}", flush=True)
        try:
            fn(s3)
        except Exception as e:  # a crash in a group is a failure of that group
            failures.append(f"{name} (exception)")
            print(f"FAIL {name}: unexpected {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
    print(f"boto3 matrix: {passes} passed, {len(failures)} failed", flush=True)
    if failures:
        print("failed: " + "; ".join(failures), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
