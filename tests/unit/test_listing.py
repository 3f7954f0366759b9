"""Input listing: folders, globs, single files, manifests, and the errors raised before Ray starts."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from samples import text_pages, write_pdf

from raypipe.config import InputConfig
from raypipe.errors import InputError
from raypipe.listing import input_roots, list_documents


def ids(**cfg) -> list[str]:
    return [d.doc_id for d in list_documents(InputConfig(**cfg))]


def test_folder_is_searched_recursively_with_relative_ids(generated):
    assert ids(inputs=[str(generated)]) == [
        "blank-page.pdf",
        "huge-page.pdf",
        "nested/deep/inner.pdf",
        "one-page.pdf",
        "page.html.pdf",
        "rotated.pdf",
        "three-pages.pdf",
        "zero-bytes.pdf",
    ]


def test_sources_are_absolute(generated, monkeypatch):
    monkeypatch.chdir(generated.parent)
    docs = list_documents(InputConfig(inputs=[generated.name + "/one-page.pdf"]))
    assert docs[0].doc_id == "one-page.pdf" and docs[0].source == str(generated / "one-page.pdf")


def test_globs(generated):
    assert ids(inputs=[f"{generated}/*-page*.pdf"]) == ["blank-page.pdf", "huge-page.pdf", "one-page.pdf", "three-pages.pdf"]
    assert ids(inputs=[f"{generated}/**/inner.pdf"]) == ["nested/deep/inner.pdf"]
    # ids are relative to the folder before the first wildcard
    assert ids(inputs=[f"{generated}/nested/*/*.pdf"]) == ["deep/inner.pdf"]


def test_extensions_filter_folders_only(generated, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "UPPER.PDF").write_bytes(b"%PDF-1.4")
    assert ids(inputs=[str(tmp_path)]) == ["UPPER.PDF"]
    assert ids(inputs=[str(tmp_path / "notes.txt")]) == ["notes.txt"]  # named explicitly: kept


def test_manifests(generated, tmp_path):
    rows = [{"path": str(generated / "one-page.pdf"), "doc_id": "a"}, {"path": "three-pages.pdf", "doc_id": "b"}]
    # relative paths resolve against the manifest's folder
    (generated / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    docs = list_documents(InputConfig(manifest=str(generated / "m.jsonl")))
    assert [(d.doc_id, d.source) for d in docs] == [
        ("a", str(generated / "one-page.pdf")),
        ("b", str(generated / "three-pages.pdf")),
    ]
    pq.write_table(pa.table({"path": [str(generated / "rotated.pdf")]}), tmp_path / "m.parquet")
    assert ids(manifest=str(tmp_path / "m.parquet")) == [str(generated / "rotated.pdf")]
    pq.write_table(pa.table({"file": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="no 'path' column"):
        list_documents(InputConfig(manifest=str(tmp_path / "bad.parquet")))


def test_errors_name_the_input(generated, tmp_path):
    with pytest.raises(InputError, match="nope.pdf"):
        list_documents(InputConfig(inputs=[str(generated / "nope.pdf")]))
    with pytest.raises(InputError, match="no documents found"):
        list_documents(InputConfig(inputs=[str(tmp_path)]))
    (tmp_path / "one-page.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(InputError, match="both hold 'one-page.pdf' at their top level"):
        list_documents(InputConfig(inputs=[str(generated / "one-page.pdf"), str(tmp_path / "one-page.pdf")]))


# --- hazards a crawl brings -----------------------------------------------------------------------


def test_symlinked_folders_are_not_followed_so_loops_end_and_each_file_is_listed_once(tmp_path):
    root = tmp_path / "crawl"
    for i in range(5):
        write_pdf(root / "docs" / f"d{i}.pdf", text_pages([f"D{i}"]))
    os.symlink(root, root / "docs" / "loop-to-root")  # a loop through the root
    os.symlink(root / "docs", root / "docs" / "loop-to-self")  # and one onto itself
    os.symlink(root / "docs", root / "another-way-in")  # a second name for a folder walked already
    os.symlink("missing", root / "broken.pdf")  # dangling
    os.symlink("self.pdf", root / "self.pdf")  # a link to itself
    docs = list_documents(InputConfig(inputs=[str(root)]))
    ok = [d.doc_id for d in docs if d.error_code is None]
    assert sorted(ok) == sorted([f"docs/d{i}.pdf" for i in range(5)] + ["broken.pdf", "self.pdf"])
    assert len(docs) == 7  # not 5 x (every path through the loops)
    # a symlinked folder named as the input itself is followed: the user asked for it
    assert len(list_documents(InputConfig(inputs=[str(root / "another-way-in")]))) == 5


def test_a_name_that_is_not_utf8_becomes_a_row_not_a_crash(tmp_path):
    root = tmp_path / "names"
    root.mkdir()
    write_pdf(root / "fine.pdf", text_pages(["Fine"]))
    bad = os.path.join(os.fsencode(root), b"caf\xe9-latin1.pdf")
    with open(bad, "wb") as f:
        f.write(b"%PDF-1.4")
    docs = {d.doc_id: d for d in list_documents(InputConfig(inputs=[str(root)]))}
    [escaped] = set(docs) - {"fine.pdf"}
    assert escaped.startswith("caf\\xe9-latin1.pdf#non-utf8=")
    row = docs[escaped]
    assert row.error_code == "read_error" and "not valid UTF-8" in row.error
    row.doc_id.encode("utf-8") and row.source.encode("utf-8")  # both can go into an Arrow table


def test_an_input_folder_whose_name_is_not_utf8_is_refused_once_not_blamed_on_every_file(tmp_path):
    folder = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    os.makedirs(os.path.join(folder, b"sub"))
    for name in (b"a.pdf", b"sub/b.pdf"):
        write_pdf(Path(os.fsdecode(os.path.join(folder, name))), text_pages(["x"]))
    spec = os.fsdecode(folder)  # as the command line gives it: the byte as a surrogate
    for cfg in ({"inputs": [spec]}, {"inputs": [spec + "/a.pdf"]}, {"inputs": [spec + "/*.pdf"]},
                {"manifest": spec + "/m.jsonl"}):
        with pytest.raises(InputError, match=r"caf\\xe9.*not valid UTF-8.*symlink"):
            list_documents(InputConfig(**cfg))
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "good.jsonl").write_text('{"path": "a.pdf"}\n')
    with open(os.path.join(os.fsencode(shards), b"bad-\xff.jsonl"), "w") as f:
        f.write('{"path": "b.pdf"}\n')
    with pytest.raises(InputError, match=r"manifest folder .*shards.*not valid UTF-8"):
        list_documents(InputConfig(manifest=str(shards)))
    os.symlink(folder, os.path.join(os.fsencode(tmp_path), b"cafe"))  # the way round it the message gives
    docs = list_documents(InputConfig(inputs=[str(tmp_path / "cafe")]))
    assert sorted(d.doc_id for d in docs) == ["a.pdf", "sub/b.pdf"] and not any(d.error_code for d in docs)


def test_fifos_and_devices_are_listed_for_a_row_without_being_opened(tmp_path):
    root = tmp_path / "odd"
    root.mkdir()
    os.mkfifo(root / "pipe.pdf")
    docs = list_documents(InputConfig(inputs=[str(root)]))
    assert [d.doc_id for d in docs] == ["pipe.pdf"] and docs[0].error_code is None  # render says read_error
    [direct] = list_documents(InputConfig(inputs=[str(root / "pipe.pdf")]))
    assert direct.source == str(root / "pipe.pdf")
    [zero] = list_documents(InputConfig(inputs=["/dev/zero"]))
    assert zero.doc_id == "zero"


def test_one_file_under_two_ids_is_read_once(generated, tmp_path):
    os.symlink(generated / "one-page.pdf", tmp_path / "alias.pdf")
    manifest = tmp_path / "m.jsonl"
    rows = [{"path": str(generated / "one-page.pdf"), "doc_id": "b-first"},
            {"path": str(tmp_path / "alias.pdf"), "doc_id": "a-second"},
            {"path": str(generated / "rotated.pdf"), "doc_id": "c"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    docs = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest)))}
    assert docs["b-first"].error_code is None  # the first listed keeps the file
    assert docs["a-second"].error_code == "duplicate" and "'b-first'" in docs["a-second"].error
    assert docs["c"].error_code is None


def test_manifest_rows_without_a_path_or_outside_the_allow_list_become_rows(generated, tmp_path):
    manifest = tmp_path / "m.jsonl"
    rows = [{"path": None, "doc_id": "no-path"}, {"path": None},
            {"path": "file:///etc/passwd", "doc_id": "file-uri"},
            {"path": "s3://bucket/k.pdf?endpoint_override=127.0.0.1:9&scheme=http", "doc_id": "options"},
            {"path": "http://example.com/a.pdf", "doc_id": "http"},
            {"path": str(generated / "one-page.pdf"), "doc_id": "fine"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    docs = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest)))}
    assert docs["fine"].error_code is None
    assert docs["no-path"].error_code == "invalid_input" and "no path" in docs["no-path"].error
    assert docs[f"{manifest}#line=2"].error_code == "invalid_input"  # no id either: named by its line
    assert "None" not in docs and all(d.source != "None" for d in docs.values())
    assert docs["file-uri"].error_code == "invalid_input" and "--allow-file-uris" in docs["file-uri"].error
    assert docs["options"].error_code == "invalid_input" and "--allow-uri-options" in docs["options"].error
    assert docs["http"].error_code == "invalid_input" and "not allowed" in docs["http"].error
    allowed = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest), allow_file_uris=True))}
    assert allowed["file-uri"].error_code is None


def test_command_line_uris_outside_the_allow_list_are_usage_errors(tmp_path):
    with pytest.raises(InputError, match="--allow-file-uris"):
        list_documents(InputConfig(inputs=[f"file://{tmp_path}"]))
    with pytest.raises(InputError, match="--allow-uri-options"):
        list_documents(InputConfig(inputs=["s3://bucket/prefix?endpoint_override=minio:9000"]))


# --- bad manifests --------------------------------------------------------------------------------


def _hostile_jsonl(generated) -> tuple[bytes, dict[int, str]]:
    """A JSONL manifest of good lines around every kind of bad one: (its bytes, {bad line: what its error says})."""
    good = str(generated / "one-page.pdf")
    lines = [
        json.dumps({"path": good, "doc_id": "first"}),
        "this is not json",
        json.dumps({"path": 5, "doc_id": "number-path"}),
        json.dumps([good]),
        json.dumps("a string"),
        "",  # blank: no row
        json.dumps({"path": good, "doc_id": ["a", "list"]}),
        "[" * 100_000,  # nested deeper than the parser recurses
        '{"path": "\\ud800.pdf", "doc_id": "surrogate"}',
        json.dumps({"path": "x" * (2 << 20), "doc_id": "too-long"}),
        '{"path": "three-pages.pdf", "doc_id": "tr',  # cut short
        json.dumps({"path": "three-pages.pdf", "doc_id": "last"}),
    ]
    bad = {2: "not valid JSON", 3: "path is a number", 4: "an array, not a JSON object",
           5: "a string, not a JSON object", 7: "doc_id is an array", 8: "nested too deeply",
           9: "not valid UTF-8", 10: "longer than", 11: "not valid JSON"}
    return ("\n".join(lines) + "\n").encode(), bad


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_each_bad_manifest_line_is_one_invalid_row_and_the_lines_around_it_are_read(generated, tmp_path, suffix):
    data, bad = _hostile_jsonl(generated)
    manifest = tmp_path / f"m{suffix}"
    codec = {".jsonl.gz": "gzip", ".jsonl.zst": "zstd"}.get(suffix)
    if codec:
        with pa.CompressedOutputStream(str(manifest), codec) as out:
            out.write(data)
    else:
        manifest.write_bytes(data)
    docs = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest)))}
    assert len(docs) == 11  # every non-blank line, once
    assert docs["first"].error_code is None and docs["last"].source == str(tmp_path / "three-pages.pdf")
    for line, says in bad.items():
        named = {2: f"{manifest}#line=2", 4: f"{manifest}#line=4", 5: f"{manifest}#line=5",
                 7: f"{manifest}#line=7", 8: f"{manifest}#line=8", 10: f"{manifest}#line=10",
                 11: f"{manifest}#line=11"}.get(line, {3: "number-path", 9: "surrogate"}.get(line))
        row = docs[named]
        assert row.error_code == "invalid_input", (line, row)
        assert f"manifest {manifest} line {line}:" in row.error and says in row.error, (line, row.error)
    pa.table({"doc_id": list(docs), "error": [d.error for d in docs.values()]})  # Arrow can hold every row


def test_a_manifest_cut_short_lists_what_it_can_and_says_where_it_stopped(generated, tmp_path):
    rows = [{"path": str(generated / "one-page.pdf"), "doc_id": f"d{i}"} for i in range(20_000)]
    whole = tmp_path / "whole.jsonl.gz"
    with pa.CompressedOutputStream(str(whole), "gzip") as out:
        out.write("".join(json.dumps(r) + "\n" for r in rows).encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    docs = list_documents(InputConfig(manifest=str(cut)))
    broken = [d for d in docs if d.error_code == "invalid_input"]
    assert len(broken) == 1 and "cannot be read from here on" in broken[0].error and str(cut) in broken[0].error
    # every line whole before the cut is listed, not only those of the blocks before the last
    whole_lines = zlib.decompressobj(31).decompress(cut.read_bytes()).count(b"\n")
    assert 0 < whole_lines < 20_000 and len(docs) - 1 == whole_lines
    assert f"line {whole_lines + 1}" in broken[0].error
    # two gzip members one after the other (what `cat a.gz b.gz` makes) are one manifest
    both = tmp_path / "both.jsonl.gz"
    both.write_bytes(whole.read_bytes() + gzip.compress(b'{"path": "x.pdf", "doc_id": "last"}\n'))
    assert len(list_documents(InputConfig(manifest=str(both)))) == 20_001


def test_a_gzip_manifest_is_read_as_gzip_reads_it(generated, tmp_path):
    from raypipe.manifest import _Gunzip

    text = "".join(json.dumps({"path": f"d{i}.pdf", "doc_id": f"d{i}"}) + "\n" for i in range(2000)).encode()
    packed = gzip.compress(text)

    def read_all(data: bytes, n: int = 4096) -> tuple[bytes, str]:
        reader, got = _Gunzip(io.BytesIO(data)), b""
        try:
            while chunk := reader.read(n):
                got += chunk
        except OSError as e:
            return got, str(e)
        return got, ""

    for cut in [*range(0, 120), len(packed) // 2, len(packed) - 1]:  # cut anywhere: never silent
        got, error = read_all(packed[:cut])
        assert text.startswith(got) and "cut short" in error, (cut, error)
    assert read_all(packed + b"\0" * 512) == (text, "")  # zero padding after the last member, as gzip allows
    got, error = read_all(packed + b"trailing junk")
    assert got == text and "not gzip" in error  # every byte before the junk, then why it stopped
    assert read_all(packed + packed, n=7) == (text + text, "")  # members one after the other, any read size
    assert read_all(b"")[1] and read_all(b"plain text, not gzip\n")[0] == b""


def test_a_manifest_file_that_cannot_be_used_at_all_stops_before_the_run_naming_the_file(generated, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(pa.table({"path": [str(generated / "one-page.pdf")]}), shards / "part-0.parquet")
    data = (shards / "part-0.parquet").read_bytes()
    (shards / "part-1.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="part-1.parquet.*cannot be read as Parquet"):
        list_documents(InputConfig(manifest=str(shards)))
    (shards / "part-1.parquet").unlink()
    (shards / "part-2.jsonl").write_text('\n\n{"file": "a.pdf"}\n{"path": "b.pdf"}\n')
    with pytest.raises(InputError, match=r"part-2.jsonl' has no 'path' field .*\['file'\]"):
        list_documents(InputConfig(manifest=str(shards)))
    (shards / "part-2.jsonl").unlink()
    pq.write_table(pa.table({"path": [1, 2]}), shards / "part-3.parquet")
    with pytest.raises(InputError, match="part-3.parquet.*'path' column holds int64"):
        list_documents(InputConfig(manifest=str(shards)))
    (shards / "part-3.parquet").unlink()
    (shards / "part-4.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="part-4.jsonl.gz' cannot be read"):
        list_documents(InputConfig(manifest=str(shards)))


def test_parquet_rows_are_numbered_from_the_files_first_row_across_row_groups(generated, tmp_path):
    manifest = tmp_path / "m.parquet"
    with pq.ParquetWriter(manifest, pa.schema([("doc_id", pa.string()), ("path", pa.string())])) as w:
        for part in range(3):
            w.write_table(pa.table({"doc_id": [f"{part}-{i}" for i in range(4)],
                                    "path": ["file:///etc/hostname" if part == 1 and i == 2 else "x.pdf" for i in range(4)]}))
    docs = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest)))}
    assert f"manifest {manifest} row 7: file:// URIs are not allowed" in docs["1-2"].error


# --- names that look like globs, inputs inside inputs ----------------------------------------------


def test_a_path_that_exists_is_read_as_itself_even_with_glob_characters(tmp_path):
    folder = tmp_path / "in"
    write_pdf(folder / "[Smith] Paper.pdf", text_pages(["Smith"]))
    write_pdf(folder / "S Paper.pdf", text_pages(["S"]))  # what [Smith] would match as a glob
    write_pdf(folder / "Books [2019]" / "a.pdf", text_pages(["a"]))
    write_pdf(folder / "what? *really*.pdf", text_pages(["q"]))
    [doc] = list_documents(InputConfig(inputs=[str(folder / "[Smith] Paper.pdf")]))
    assert (doc.doc_id, doc.source) == ("[Smith] Paper.pdf", str(folder / "[Smith] Paper.pdf"))
    assert ids(inputs=[str(folder / "Books [2019]")]) == ["a.pdf"]
    assert ids(inputs=[str(folder / "what? *really*.pdf")]) == ["what? *really*.pdf"]
    assert input_roots(InputConfig(inputs=[str(folder / "Books [2019]")])) == [str(folder / "Books [2019]")]
    # a path that does not exist is a glob
    assert ids(inputs=[str(folder / "[RS]*.pdf")]) == ["S Paper.pdf"]
    with pytest.raises(InputError, match="does not exist"):
        list_documents(InputConfig(inputs=[str(tmp_path / "gone" / "[x]*.pdf")]))


def test_an_input_inside_another_is_refused_naming_both(tmp_path):
    data = tmp_path / "data"
    write_pdf(data / "sub" / "x.pdf", text_pages(["x"]))
    os.symlink(data / "sub", tmp_path / "another-way-in")
    for inner in [data / "sub", data / "sub" / "x.pdf", tmp_path / "another-way-in"]:
        for order in ([data, inner], [inner, data]):
            with pytest.raises(InputError, match=re.escape(f"input '{inner}' lies inside input '{data}'")):
                list_documents(InputConfig(inputs=[str(p) for p in order]))
    with pytest.raises(InputError, match="name the same files"):
        list_documents(InputConfig(inputs=[str(data), str(data) + "/"]))
    write_pdf(tmp_path / "data-2" / "y.pdf", text_pages(["y"]))  # a sibling whose name starts the same
    assert ids(inputs=[str(data), str(tmp_path / "data-2")]) == ["sub/x.pdf", "y.pdf"]


# --- ids that could repeat ---------------------------------------------------------------------------


def test_an_undecodable_name_never_takes_the_id_of_a_real_one(tmp_path):
    root = tmp_path / "sub"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), b"bad\xffname.pdf"), "wb") as f:
        f.write(b"%PDF-1.4 undecodable")
    (root / "bad\\xffname.pdf").write_bytes(b"%PDF-1.4 literal")  # spelled as the escape of the other
    docs = list_documents(InputConfig(inputs=[str(root)]))
    assert len(docs) == 2 and len({d.doc_id for d in docs}) == 2
    literal = {d.doc_id: d for d in docs}["bad\\xffname.pdf"]
    assert literal.error_code is None and literal.source == str(root / "bad\\xffname.pdf")


def test_a_repeated_doc_id_is_a_duplicate_row_of_its_own_never_a_second_row_with_that_id(generated, tmp_path):
    manifest = tmp_path / "m.jsonl"
    rows = [{"path": str(generated / "one-page.pdf"), "doc_id": "a"},
            {"path": str(generated / "rotated.pdf"), "doc_id": "a"},
            {"path": str(generated / "three-pages.pdf"), "doc_id": "a#repeat=2"},  # takes the name a repeat would
            {"path": str(generated / "blank-page.pdf"), "doc_id": "a"},
            {"path": None, "doc_id": "a"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    docs = list_documents(InputConfig(manifest=str(manifest)))
    by_id = {d.doc_id: d for d in docs}
    assert len(docs) == 5 and len(by_id) == 5  # a row each, no id twice
    assert by_id["a"].source == str(generated / "one-page.pdf") and by_id["a"].error_code is None
    assert by_id["a#repeat=2"].source == str(generated / "rotated.pdf")
    assert by_id["a#repeat=2"].error_code == "duplicate" and "'a' was listed already" in by_id["a#repeat=2"].error
    assert by_id["a#repeat=2#repeat=2"].source == str(generated / "three-pages.pdf")
    assert by_id["a#repeat=3"].source == str(generated / "blank-page.pdf")
    assert by_id["a#repeat=4"].error_code == "invalid_input" and "no path" in by_id["a#repeat=4"].error


# --- globs, deep trees, damaged and oddly shaped manifests -----------------------------------------


def test_glob_character_classes_mean_what_they_mean_in_a_shell(tmp_path):
    for name in ("a.pdf", "b.pdf", "_draft.pdf", "!x.pdf"):
        (tmp_path / name).write_bytes(b"%PDF-1.4")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.pdf").write_bytes(b"%PDF-1.4")
    expect = lambda pattern: sorted(p.name for p in tmp_path.glob(pattern))  # noqa: E731  (Python's own glob)
    for pattern in ("[!_]*.pdf", "[ab].pdf", "[]!_]*.pdf", "[!ab_]*.pdf"):
        assert ids(inputs=[f"{tmp_path}/{pattern}"]) == expect(pattern), pattern


def test_a_tree_thousands_of_levels_deep_is_listed_not_a_crash(tmp_path):
    deep = str(tmp_path)
    for _ in range(1_500):  # deeper than Python's recursion limit (os.makedirs recurses too)
        deep += "/d"
        os.mkdir(deep)
    Path(deep, "bottom.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "top.pdf").write_bytes(b"%PDF-1.4")
    try:
        assert ids(inputs=[str(tmp_path)]) == ["d/" * 1_500 + "bottom.pdf", "top.pdf"]
    finally:  # removed here, bottom up: pytest's own clean-up (shutil.rmtree) recurses and would fail on it
        os.unlink(Path(deep, "bottom.pdf"))
        while deep != str(tmp_path):
            os.rmdir(deep)
            deep = deep.rsplit("/", 1)[0]


def test_a_damaged_parquet_row_group_costs_its_own_rows_only(tmp_path):
    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"path": [f"doc{i}.pdf" for i in range(30)]}), manifest, row_group_size=10,
                   compression="none", use_dictionary=False)
    offset = pq.ParquetFile(manifest).metadata.row_group(1).column(0).data_page_offset
    data = bytearray(manifest.read_bytes())
    data[offset : offset + 8] = b"\xff" * 8  # the page header of the second row group
    manifest.write_bytes(bytes(data))
    docs = list_documents(InputConfig(manifest=str(manifest)))
    read = [d.doc_id for d in docs if d.error_code is None]
    assert sorted(read) == sorted(f"doc{i}.pdf" for i in (*range(10), *range(20, 30)))
    [broken] = [d for d in docs if d.error_code == "invalid_input"]
    assert broken.doc_id == f"{manifest}#row=11" and "row group 1 cannot be read" in broken.error


def test_relative_paths_in_shards_of_different_folders_are_different_documents(tmp_path):
    for shard in ("s1", "s2"):
        (tmp_path / "m" / shard).mkdir(parents=True)
        write_pdf(tmp_path / "m" / shard / "a.pdf", text_pages([shard]))
        (tmp_path / "m" / shard / "part.jsonl").write_text(json.dumps({"path": "a.pdf"}) + "\n")
    (tmp_path / "m" / "top.jsonl").write_text(json.dumps({"path": "s1/a.pdf"}) + "\n")
    docs = list_documents(InputConfig(manifest=str(tmp_path / "m")))
    assert sorted((d.doc_id, d.source, d.error_code) for d in docs) == [
        ("s1/a.pdf", str(tmp_path / "m/s1/a.pdf"), None),
        # the top shard names s1/a.pdf again: the same id, so a repeat (ids made from paths are comparable)
        ("s1/a.pdf#repeat=2", str(tmp_path / "m/s1/a.pdf"), "duplicate"),
        ("s2/a.pdf", str(tmp_path / "m/s2/a.pdf"), None),
    ]


def test_a_json_array_is_refused_as_a_manifest_before_the_run(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps([{"path": "a.pdf"}, {"path": "b.pdf"}], indent=2))
    with pytest.raises(InputError, match="m.json' starts with a JSON array"):
        list_documents(InputConfig(manifest=str(tmp_path / "m.json")))


def test_a_read_task_checks_a_small_parquet_manifest_whole_whatever_it_listed_before(tmp_path):
    """The task's memory of ids is bounded; before a unit of known size that would overflow it, it
    forgets, so a repeat inside that unit is still caught."""
    from raypipe.listed import SEEN_LIMIT
    from raypipe.listing import plan_units
    from raypipe.read import _blocks

    first, second = tmp_path / "first.parquet", tmp_path / "second.parquet"
    pq.write_table(pa.table({"doc_id": [f"f{i}" for i in range(2_000)], "path": [f"f{i}.pdf" for i in range(2_000)]}), first)
    rows = SEEN_LIMIT - 1_000
    pq.write_table(pa.table({"doc_id": ["X" if i in (0, rows - 1) else f"s{i}" for i in range(rows)],
                             "path": [f"s{i}.pdf" for i in range(rows)]}), second)
    cfg = InputConfig(manifest=str(tmp_path))
    units = plan_units(cfg)
    assert len(units) == 2
    listed = [d for table in _blocks(units, cfg, None, 1024, None, frozenset(), []) for d in table.to_pylist()]
    assert len(listed) == 2_000 + rows
    xs = [d for d in listed if d["doc_id"].startswith("X")]
    assert [(d["doc_id"], d["error_code"]) for d in xs] == [("X", None), ("X#repeat=2", "duplicate")]
