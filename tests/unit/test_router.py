"""The text-layer router: every kind of page in the generated set (bench/router_pages.py) decided
right, with the right reason, on evidence gathered by real PDFium; and the decision's edges on
evidence built by hand."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import router_pages as rp  # noqa: E402
from helpers import page_evidence

from raypipe.engines import router  # noqa: E402
from raypipe.engines.router import decide, implausibility  # noqa: E402
from raypipe.pdf.evidence import PageEvidence  # noqa: E402


def route(pdf: bytes, min_chars: int = 64, **kwargs) -> tuple[bool, str]:
    return decide(page_evidence(pdf), min_chars, **kwargs)


BODIES = dict(rp._bodies())


@pytest.mark.parametrize("name", list(BODIES))
def test_born_digital_pages_keep_their_text(name):
    assert route(rp.born_digital(BODIES[name])) == (True, router.KEEP_CLEAN)


def test_born_digital_variants_keep_their_text():
    en = BODIES["en"]
    assert route(rp.born_digital(en, rotate=270)) == (True, router.KEEP_CLEAN)
    assert route(rp.born_digital(en, gray=0.6)) == (True, router.KEEP_CLEAN)
    photo = rp._photo(np.random.default_rng(0))
    assert route(rp.born_digital(en[:12] + en[-10:], photo=photo)) == (True, router.KEEP_CLEAN)


@pytest.fixture(scope="module")
def scans():
    rng = np.random.default_rng(2)
    specs = [rp.Scan(), rp.Scan(paper=226, noise=6, bleed=18, edges=2, holes=2, jpeg=60)]
    back = rp.render_gray(rp.born_digital(BODIES["pt"]))
    return [(name, spec, rp.scan_image(rp.render_gray(rp.born_digital(BODIES[name])), spec, rng, back))
            for name, spec in zip(("en", "de"), specs)]


def test_scans(scans):
    prng = random.Random(4)
    for name, spec, image in scans:
        runs = BODIES[name]
        assert route(rp.scan_page(image, spec)) == (False, router.NO_TEXT)
        good = rp.scan_page(image, spec, rp.text_ops(runs, mode=3))
        assert route(good) == (True, router.KEEP_OCR_LAYER), name
        assert route(good, keep_ocr_layers=False) == (False, router.INVISIBLE_OVER_IMAGE)
        for garbage in (rp.random_letters(prng), rp.ocr_noise(prng, 0.45), rp.shifted(1), rp.shifted(-2)):
            page = rp.scan_page(image, spec, rp.text_ops(runs, mode=3, transform=garbage))
            assert route(page) == (False, router.IMPLAUSIBLE), name
        partial = rp.scan_page(image, spec, rp.text_ops(runs[:5], mode=3))
        assert route(partial) == (False, router.UNCOVERED_INK)
        footer = rp.text_ops(rp.column(rp.texts.FOOTERS[1], 40, 30, rp.W - 80, 7, bottom=0))
        assert route(rp.scan_page(image, spec, footer)) == (False, router.UNCOVERED_INK)


def test_an_ocr_layer_of_another_page_lies_over_nothing(scans):
    name, spec, _ = scans[0]
    blank = rp.scan_image(None, spec, np.random.default_rng(0), rp.render_gray(rp.born_digital(BODIES[name])))
    assert route(rp.scan_page(blank, spec, rp.text_ops(BODIES[name], mode=3))) == (False, router.TEXT_WITHOUT_INK)


@pytest.mark.parametrize("name", ["en", "fr", "de"])
def test_broken_fonts(name):
    runs = BODIES[name]
    for mapping in (rp.shifted(1), rp.shifted(3), rp.shifted(-1)):
        doc = rp.Doc()
        rp.helvetica(doc, to_unicode=rp.letters_map(mapping))
        assert route(doc.file(rp.text_ops(runs))) == (False, router.IMPLAUSIBLE)
    for seed in range(3):
        perm = list(rp.LOWER)
        random.Random(seed).shuffle(perm)
        doc = rp.Doc()
        rp.helvetica(doc, to_unicode=rp.letters_map(rp.permuted(perm)))
        assert route(doc.file(rp.text_ops(runs))) == (False, router.IMPLAUSIBLE), seed
    doc = rp.Doc()
    rp.helvetica(doc, to_unicode={c: 0xE000 + c for c in range(32, 127)})
    assert route(doc.file(rp.text_ops(runs))) == (False, router.UNMAPPED)
    doc = rp.Doc()
    encode = rp.type3(doc)
    assert route(doc.file(rp.text_ops(runs, encode=encode))) == (False, router.UNMAPPED)
    cid = "".join(f"(cid:{ord(ch)})" if ch.isalpha() else ch for ch in rp.texts.PROSE[name][:700])
    assert route(rp.born_digital(rp.prose_page(cid, size=9))) == (False, router.UNMAPPED)


def test_min_chars_is_the_boundary():
    runs = [rp.Run(72, 700, 12, "A short title of forty-one letters and digits 12345")]
    alnum = sum(ch.isalnum() for ch in runs[0].text)
    assert route(rp.born_digital(runs), min_chars=alnum) == (True, router.KEEP_CLEAN)
    assert route(rp.born_digital(runs), min_chars=alnum + 1) == (False, router.NO_TEXT)


CLEAN = PageEvidence(chars=1500, alnum=1450, letters=1400, vowels=560, words=300, common_words=100,
                     cells=7000, ink=1800, text=1900, ink_near_text=1800, text_on_ink=1900, marks=1750)


def test_hand_made_evidence():
    assert decide(CLEAN, 64) == (True, router.KEEP_CLEAN)
    assert decide(PageEvidence(), 64) == (False, router.NO_TEXT)
    assert decide(dataclasses.replace(CLEAN, unmapped=151), 64) == (False, router.UNMAPPED)
    assert decide(dataclasses.replace(CLEAN, unmapped=149), 64) == (True, router.KEEP_CLEAN)
    assert decide(dataclasses.replace(CLEAN, vowelless_words=60), 64) == (False, router.IMPLAUSIBLE)
    assert decide(dataclasses.replace(CLEAN, vowelless_words=20), 64) == (True, router.KEEP_CLEAN)  # one weak sign
    assert decide(dataclasses.replace(CLEAN, vowelless_words=20, broken_words=40), 64) == (False, router.IMPLAUSIBLE)
    assert decide(dataclasses.replace(CLEAN, text_on_ink=100), 64) == (False, router.TEXT_WITHOUT_INK)
    scan = dataclasses.replace(CLEAN, image=7000, image_marks=1750)
    assert decide(dataclasses.replace(scan, invisible=1500), 64) == (True, router.KEEP_OCR_LAYER)
    assert decide(dataclasses.replace(scan, image_marks_far=600), 64) == (False, router.UNCOVERED_INK)
    small_figure = dataclasses.replace(CLEAN, image=2000, image_marks=600, image_marks_far=600)
    assert decide(small_figure, 64) == (True, router.KEEP_CLEAN)  # figures on part of a page are not scans
    few_words = dataclasses.replace(CLEAN, words=10, vowelless_words=10, letters=100)
    assert implausibility(few_words) == [] and decide(few_words, 64)[0]


def test_every_reason_is_named():
    assert len(set(router.REASONS)) == len(router.REASONS)
    assert all(r.split(":")[0] in ("text_layer", "model") for r in router.REASONS)


OTHER_LANGUAGES = {
    "pl": "Miasto zostało zbudowane wokół portu i przez długi czas całe jego życie było zwrócone ku morzu. Najstarsze "
          "domy wciąż stoją blisko nabrzeża, ściśnięte jeden przy drugim, z wąskimi fasadami i bardzo stromymi dachami.",
    "cs": "Město bylo postaveno kolem přístavu a po dlouhou dobu se celý jeho život obracel k moři. Nejstarší domy "
          "stále stojí blízko nábřeží, natěsnané jeden vedle druhého, s úzkými fasádami a velmi strmými střechami.",
    "fi": "Kaupunki rakennettiin sataman ympärille, ja pitkään sen koko elämä kääntyi kohti merta. Vanhimmat talot "
          "ovat yhä lähellä laituria, tiiviisti vierekkäin, kapeine julkisivuineen ja jyrkkine katoineen.",
    "hu": "A város a kikötő körül épült, és sokáig egész élete a tenger felé fordult. A legrégebbi házak még mindig "
          "a rakpart közelében állnak, szorosan egymás mellett, keskeny homlokzatokkal és nagyon meredek tetőkkel.",
    "tr": "Şehir limanın etrafında kuruldu ve uzun süre tüm hayatı denize dönüktü. En eski evler hâlâ rıhtıma yakın, "
          "birbirine sıkışık, dar cepheleri ve çok dik çatılarıyla duruyor.",
    "vi": "Thành phố được xây dựng quanh bến cảng, và trong một thời gian dài toàn bộ cuộc sống của nó hướng về biển. "
          "Những ngôi nhà cổ nhất vẫn nằm gần bến tàu, san sát nhau, với mặt tiền hẹp và mái nhà rất dốc.",
    "id": "Kota ini dibangun di sekitar pelabuhan, dan untuk waktu yang lama seluruh kehidupannya menghadap ke laut. "
          "Rumah-rumah tertua masih berdiri dekat dermaga, berhimpitan satu sama lain, dengan fasad sempit.",
    "ru": "Город был построен вокруг порта, и долгое время вся его жизнь была обращена к морю. Самые старые дома "
          "до сих пор стоят у набережной, тесно прижавшись друг к другу, с узкими фасадами и крутыми крышами.",
    "el": "Η πόλη χτίστηκε γύρω από το λιμάνι και για πολύ καιρό όλη η ζωή της ήταν στραμμένη προς τη θάλασσα. "
          "Τα παλαιότερα σπίτια βρίσκονται ακόμη κοντά στην προκυμαία, στριμωγμένα το ένα δίπλα στο άλλο.",
}


@pytest.mark.parametrize("lang", list(OTHER_LANGUAGES))
def test_languages_outside_the_word_list_stay_plausible(lang):
    from raypipe.pdf.evidence import text_counts

    ev = PageEvidence(**text_counts(" ".join([OTHER_LANGUAGES[lang]] * 4)))
    assert ev.words >= router.MIN_WORDS
    assert implausibility(ev) in ([], ["weak:few_common_words"]), implausibility(ev)


def test_permuted_letters_are_caught_in_every_language():
    from raypipe.pdf.evidence import text_counts

    kept = 0
    for text in rp.texts.PROSE.values():
        for seed in range(20):
            perm = list(rp.LOWER)
            random.Random(seed).shuffle(perm)
            garbled = "".join(map(rp.permuted(perm), text))
            kept += decide(PageEvidence(**text_counts(garbled)), 64)[0]
    assert kept <= 2  # of 180 random permutations of the alphabet
