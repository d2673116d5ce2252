#!/usr/bin/env python3
"""What one journal commit sends to the disk, depending on how the page cache holds the
segment: a replica of keyward-journal's write pattern (a 4 MiB zero-filled segment, records
appended front to back, one fdatasync each) in Python, on the filesystem of DIR (default:
the current directory; use the disk the server uses).

    scripts/journal-folio-writes.py [DIR]

Linux 6.x caches files in folios of up to 2 MiB and writes a dirty folio back whole, so the
bytes per commit depend on the folio sizes: a write creates folios of its own size, and
sequential reads ramp readahead up to large ones. Bytes are the process's write_bytes from
/proc/self/io (Linux only). keyward zero-fills in 4 KiB writes and turns readahead off for
segments (crates/keyward-journal/src/segment.rs).
"""
import os
import sys

SEGMENT = 4 << 20


def written():
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise SystemExit("no write_bytes in /proc/self/io (Linux only)")


def per_commit(directory, fill_chunk, read_back, no_readahead, record):
    path = os.path.join(directory, "journal-folio-writes.seg")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        for _ in range(SEGMENT // fill_chunk):
            os.write(fd, b"\0" * fill_chunk)
        os.fsync(fd)
        if read_back:
            # As opening the journal does: drop the cached pages, then read the segment back
            # in growing sequential reads.
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            if no_readahead:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            os.lseek(fd, 0, os.SEEK_SET)
            size = 32
            while os.read(fd, size):
                size = min(size * 2, 1 << 20)
        payload, offset, commits, before = b"x" * record, 0, 0, written()
        while offset + record <= SEGMENT:
            os.pwrite(fd, payload, offset)
            os.fdatasync(fd)
            offset += record
            commits += 1
        return (written() - before) / commits
    finally:
        os.close(fd)
        os.unlink(path)


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    print(f"{'segment pages':58} {'record':>7} {'bytes to disk per commit':>25}")
    cases = [
        ("zero-filled in 64 KiB writes", 65536, False, False),
        ("zero-filled in 4 KiB writes", 4096, False, False),
        ("4 KiB fill, read back sequentially", 4096, True, False),
        ("4 KiB fill, read back sequentially with readahead off", 4096, True, True),
    ]
    for label, chunk, read_back, no_readahead in cases:
        for record in (600, 3500):
            bytes_ = per_commit(directory, chunk, read_back, no_readahead, record)
            print(f"{label:58} {record:7} {bytes_:25.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
