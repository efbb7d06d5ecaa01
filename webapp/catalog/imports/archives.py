"""Images from an uploaded archive or a server folder, keyed by normalised name.

- ``extract_images``: a zip / tar(.gz/.bz2/.xz) of images, treated as hostile:
  no path leaves ``dest_dir``, no links or devices, sizes checked from the
  metadata before anything is written and counted again while copying.
- ``collect_folder_images``: images already on the server, without following
  symlinks out of the folder.

Both key the images by ``normalize_image_path`` of their relative name, as the
parsers do for a row's images.
"""
from __future__ import annotations

import os
import secrets
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from webapp.catalog.imports.rows import IMAGE_EXTENSIONS, GiB, KiB, MiB, _is_image_name, normalize_image_path

_COPY_CHUNK = 256 * KiB
_RATIO_MIN_BYTES = 1 * MiB  # below this, a high compression ratio cannot hurt


@dataclass
class ExtractResult:
    """Extracted images by their normalised archive name; errors (refused entries, file-level
    problems) and skipped entries (not images: harmless, shown for information)."""

    files: dict[str, Path] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def extract_images(
    archive_path: "str | os.PathLike",
    dest_dir: "str | os.PathLike",
    *,
    max_files: int = 20_000,
    max_total_bytes: int = 2 * GiB,
    max_file_bytes: int = 50 * MiB,
    max_ratio: float = 200,
) -> ExtractResult:
    """Extract the .jpg/.jpeg/.png/.webp images of a zip or tar(.gz/.bz2/.xz) into ``dest_dir``.

    The archive is hostile until proven otherwise. Its kind comes from its content,
    not its name. Before anything is written, its metadata is checked: more than
    ``max_files`` entries (files and folders), an unpacked total (all entries,
    images or not) over ``max_total_bytes`` or a compression ratio over ``max_ratio``
    (a bomb) refuse the whole archive. Single entries are refused (error) for
    unsafe names, links, devices, being over ``max_file_bytes`` or not being an
    image inside; non-image names are skipped. Copying counts bytes again, so a
    header that lies about sizes cannot get more than it declared onto the disk,
    and each target path is resolved and checked to be inside ``dest_dir``.
    """
    archive_path, dest = Path(archive_path), Path(dest_dir)
    result = ExtractResult()
    limits = _Limits(max_files, max_total_bytes, max_file_bytes, max_ratio)
    if not archive_path.is_file():
        result.errors.append(f"{archive_path.name}: the uploaded archive is missing or not a file.")
        return result
    try:
        if zipfile.is_zipfile(archive_path):
            entries_of = _ZipEntries
        elif tarfile.is_tarfile(archive_path):
            entries_of = _TarEntries
        else:
            result.errors.append(f"{archive_path.name}: not a zip or tar archive; upload a .zip, .tar or .tar.gz of the images.")
            return result
        dest.mkdir(parents=True, exist_ok=True)
        _extract_entries(entries_of, archive_path, dest.resolve(), limits, result)
    except _ArchiveRefused as refused:
        result.files.clear()
        result.errors.append(f"{archive_path.name}: {refused} Nothing was extracted.")
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, ValueError) as error:
        # A damaged archive (truncated download, bad compression stream). Files already
        # written are complete and checked, so they stay; the error says the rest is lost.
        result.errors.append(f"{archive_path.name}: the archive is damaged ({error}); extraction stopped.")
    return result


def collect_folder_images(
    folder: "str | os.PathLike", *, allowed_roots: Sequence["str | os.PathLike"] | None = None
) -> dict[str, Path]:
    """The images under a server-side folder, by normalised relative posix name.

    Symlinked folders are not entered and a symlinked file counts only when it
    resolves inside the folder (the mapped path is then its target), so naming a
    folder never exposes files outside it. ``allowed_roots``, when given, is where
    the Django side lets merchandisers point (ValueError outside them).
    """
    root = Path(folder).resolve()
    if allowed_roots is not None and not any(root.is_relative_to(Path(r).resolve()) for r in allowed_roots):
        raise ValueError(f"{folder} is outside the folders allowed for imports")
    if not root.is_dir():
        raise ValueError(f"{folder} is not a folder on the server")
    images: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            target = _folder_file_target(path, root)
            if target is None:
                continue
            try:
                name = normalize_image_path(path.relative_to(root).as_posix())
            except ValueError:
                continue
            if _is_image_name(name) and not _is_junk_name(name):
                images.setdefault(name, target)
    return images


# =========================================================================== helpers


class _ArchiveRefused(Exception):
    """The whole archive is refused (too many entries, too big, a bomb)."""


@dataclass(frozen=True)
class _Limits:
    max_files: int
    max_total_bytes: int
    max_file_bytes: int
    max_ratio: float


@dataclass
class _Entry:
    """An archive entry, reduced to what the checks need; ``open`` gives its bytes."""

    name: str
    kind: str  # 'file' | 'dir' | 'symlink' | 'hardlink' | 'device'
    size: int
    compressed_size: int | None  # None: not known per entry (tar)
    open: Callable[[], BinaryIO]


def _extract_entries(entries_of, archive_path: Path, dest: Path, limits: _Limits, result: ExtractResult) -> None:
    """Check all metadata first, then copy the accepted entries one by one."""
    with entries_of(archive_path, limits) as entries:
        _check_archive(entries, archive_path, limits)
        accepted = [accepted for accepted in (_accept_entry(e, limits, result) for e in entries) if accepted]
        total = 0
        for entry, name in accepted:
            total = _extract_one(entry, name, dest, limits, total, result)


def _check_archive(entries: list[_Entry], archive_path: Path, limits: _Limits) -> None:
    """Whole-archive refusals, from the metadata alone."""
    if len(entries) > limits.max_files:
        raise _ArchiveRefused(f"it has more than {limits.max_files} entries (files and folders); split it.")
    total = sum(entry.size for entry in entries)
    if total > limits.max_total_bytes:
        raise _ArchiveRefused(f"it unpacks to {total} bytes, more than the {limits.max_total_bytes} allowed.")
    for entry in entries:
        if entry.kind == "file" and entry.compressed_size is not None:
            _check_ratio(entry.size, entry.compressed_size, limits, f"entry {entry.name!r}")
    _check_ratio(total, archive_path.stat().st_size, limits, "the archive")


def _check_ratio(size: int, compressed: int, limits: _Limits, what: str) -> None:
    if size >= _RATIO_MIN_BYTES and size > limits.max_ratio * max(compressed, 1):
        raise _ArchiveRefused(
            f"{what} expands {size / max(compressed, 1):.0f} times (more than {limits.max_ratio:g}): "
            "it looks like a decompression bomb."
        )


def _accept_entry(entry: _Entry, limits: _Limits, result: ExtractResult) -> tuple[_Entry, str] | None:
    """(entry, safe name) to extract, or None with an error / skip noted. Directories pass silently."""
    if entry.kind == "dir":
        return None
    try:
        name = normalize_image_path(entry.name)
    except ValueError as error:
        result.errors.append(f"{entry.name!r}: refused, the name {error}.")
        return None
    if entry.kind != "file":
        result.errors.append(f"{name}: refused, a {entry.kind} (only plain image files are extracted).")
        return None
    if not _is_image_name(name) or _is_junk_name(name):
        result.skipped.append(f"{name}: skipped, not a {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} image.")
        return None
    if entry.size > limits.max_file_bytes:
        result.errors.append(f"{name}: refused, {entry.size} bytes is more than the {limits.max_file_bytes} allowed per image.")
        return None
    return entry, name


def _extract_one(entry: _Entry, name: str, dest: Path, limits: _Limits, total: int, result: ExtractResult) -> int:
    """Copy one entry to dest/name through a temporary file; returns the new running total."""
    if name in result.files:
        result.errors.append(f"{name}: refused, the archive holds this name twice (the first was kept).")
        return total
    target = dest / name
    if not target.resolve().is_relative_to(dest):
        result.errors.append(f"{name}: refused, it would be written outside the destination folder.")
        return total
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(dest) or target.is_symlink() or target.is_dir():
            result.errors.append(f"{name}: refused, its place in the destination folder is taken by a link or folder.")
            return total
        with entry.open() as source:
            written = _copy_checked(source, target, entry.size, limits, total)
    except _EntryRefused as error:
        result.errors.append(f"{name}: refused, {error}.")
        return total
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as error:
        result.errors.append(f"{name}: could not be extracted ({error}).")
        return total
    except RuntimeError:  # zipfile: encrypted entry
        result.errors.append(f"{name}: refused, it is encrypted; zip the images without a password.")
        return total
    except NotImplementedError:  # zipfile: e.g. Deflate64 from Windows Explorer
        result.errors.append(f"{name}: could not be extracted, unsupported compression method; re-zip with standard Deflate.")
        return total
    result.files[name] = target
    return total + written


class _EntryRefused(Exception):
    """One entry refused while copying (its temporary file is already removed)."""


def _copy_checked(source: BinaryIO, target: Path, declared: int, limits: _Limits, total: int) -> int:
    """Stream into a temporary file next to ``target``, counting bytes against the declared
    size and the limits, checking the image signature; rename only when all is well."""
    temporary = target.parent / f".part-{secrets.token_hex(8)}"
    # O_EXCL | O_NOFOLLOW: never through a planted link; mode 0o666 lets the umask decide, as for any upload
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    written = 0
    try:
        with os.fdopen(handle, "wb") as out:
            first = True
            while chunk := source.read(_COPY_CHUNK):
                if first and not _looks_like_image(chunk):
                    raise _EntryRefused("its content is not a JPEG, PNG or WebP image")
                first = False
                written += len(chunk)
                if written > min(declared, limits.max_file_bytes) or total + written > limits.max_total_bytes:
                    raise _EntryRefused("it holds more data than its header declared or the limits allow")
                out.write(chunk)
        if first:
            raise _EntryRefused("it is empty")
        os.replace(temporary, target)
        return written
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _looks_like_image(head: bytes) -> bool:
    return (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


class _ZipEntries:
    """Context manager: the zip's entries. A zip's metadata is its central directory, so
    listing costs nothing; the mode in external_attr tells links and devices apart."""

    def __init__(self, path: Path, limits: _Limits):
        self.archive = zipfile.ZipFile(path)

    def __enter__(self) -> list[_Entry]:
        return [
            _Entry(info.filename, _zip_kind(info), info.file_size, info.compress_size, partial(self.archive.open, info))
            for info in self.archive.infolist()
        ]

    def __exit__(self, *exc) -> None:
        self.archive.close()


def _zip_kind(info: zipfile.ZipInfo) -> str:
    if info.is_dir():
        return "dir"
    mode = info.external_attr >> 16
    if info.create_system != 3 or not stat.S_IFMT(mode) or stat.S_ISREG(mode):
        return "file"  # the unix file type is only there when made on unix, and may be left out
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "device"


class _TarEntries:
    """Context manager: the tar's entries, read header by header. Listing a compressed tar
    decompresses the data between headers, so it stops as soon as the count, the declared
    total or the ratio is over a limit, before a bomb costs more than the limit."""

    def __init__(self, path: Path, limits: _Limits):
        self.path, self.limits = path, limits
        self.archive = tarfile.open(path, "r:*")

    def __enter__(self) -> list[_Entry]:
        entries, total, archive_size = [], 0, self.path.stat().st_size
        while (member := self.archive.next()) is not None:
            entries.append(_Entry(member.name, _tar_kind(member), member.size, None, partial(self._open, member)))
            if len(entries) > self.limits.max_files:
                break  # _check_archive refuses it
            total += member.size  # tarfile decompresses past this much to reach the next header
            if total > self.limits.max_total_bytes:
                break
            _check_ratio(total, archive_size, self.limits, "the archive")
        return entries

    def _open(self, member: tarfile.TarInfo) -> BinaryIO:
        source = self.archive.extractfile(member)
        if source is None:
            raise OSError("no data")
        return source

    def __exit__(self, *exc) -> None:
        self.archive.close()


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.isreg():
        return "file"
    return "device"  # character / block device, FIFO, or an unknown type


def _folder_file_target(path: Path, root: Path) -> Path | None:
    """The file to read for ``path``: itself when a regular file, its target when a symlink
    that stays inside ``root``; None otherwise."""
    try:
        if path.is_symlink():
            target = path.resolve(strict=True)
            return target if target.is_relative_to(root) and target.is_file() else None
        return path if stat.S_ISREG(path.lstat().st_mode) else None
    except (OSError, RuntimeError):  # broken link, loop, permission
        return None


def _is_junk_name(name: str) -> bool:
    """macOS archive litter: __MACOSX/ folders and ._name AppleDouble files (named .jpg, not images)."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._")


__all__ = [
    "ExtractResult",
    "collect_folder_images",
    "extract_images",
]
