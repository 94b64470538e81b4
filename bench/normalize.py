"""Benchmark: `compliance.phone.normalize` against the full phonenumbers pipeline.

Run with `python -m bench.normalize` (pin it to one core for stable numbers:
`taskset -c 1 .venv/bin/python -m bench.normalize`). The input follows baselines.md section 1:
100k numbers in five US formats in equal shares, real area codes, about 10% invalid
(area code starting with 1, exchange starting with 0/1, 7 digits, 11 national digits, 'n/a',
empty strings and +44 numbers). Both sides run over the same list in the same process; each
figure is the best of 3 runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

import phonenumbers

from compliance.phone import InvalidNumber, normalize

COUNT = 100_000
RUNS = 3
TARGET = 20.0
SEED = 20260310
INVALID_SHARE = 0.10

# Assigned area codes from all over the US (all valid in phonenumbers 9.0.43).
_AREA_CODE_TEXT = (
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 231 "
    "234 239 240 248 251 252 253 254 256 260 262 267 269 270 272 276 281 301 302 303 304 305 "
    "307 308 309 310 312 313 314 315 316 317 318 319 320 321 323 325 330 331 334 336 337 339 "
    "346 347 351 352 360 361 385 386 401 402 404 405 406 407 408 409 410 412 413 414 415 417 "
    "419 423 424 425 430 432 434 435 440 442 443 458 469 470 475 478 479 480 484 501 502 503 "
    "504 505 507 508 509 510 512 513 515 516 517 518 520 530 540 541 551 559 561 562 563 567 "
    "570 571 573 574 575 580 585 586 601 602 603 605 606 607 608 609 610 612 614 615 616 617 "
    "618 619 620 623 626 630 631 636 641 646 650 651 657 660 661 662 667 678 682 701 702 703 "
    "704 706 707 708 712 713 714 715 716 717 718 719 720 724 727 731 732 734 737 740 747 754 "
    "757 760 762 763 765 770 772 773 774 775 781 785 786 801 802 803 804 805 806 808 810 812 "
    "813 814 815 816 817 818 828 830 831 832 843 845 847 848 850 856 857 858 859 860 862 863 "
    "864 865 870 872 878 901 903 904 906 907 908 909 910 912 913 914 915 916 917 918 919 920 "
    "925 928 931 936 937 940 941 947 949 951 952 954 956 970 971 972 973 978 979 980 985 989"
)
AREA_CODES = tuple(_AREA_CODE_TEXT.split())

FORMATS: tuple[Callable[[str, str, str], str], ...] = (
    lambda a, b, c: f"({a}) {b}-{c}",
    lambda a, b, c: f"{a}.{b}.{c}",
    lambda a, b, c: f"+1 {a} {b} {c}",
    lambda a, b, c: f"{a}{b}{c}",
    lambda a, b, c: f"1-{a}-{b}-{c}",
)


def _invalid(rng: random.Random) -> str:
    kind = rng.randrange(7)
    npa = rng.choice(AREA_CODES)
    nxx = str(rng.randint(200, 999))
    line = f"{rng.randrange(10_000):04d}"
    if kind == 0:  # area code starting with 1
        return rng.choice(FORMATS)(f"1{rng.randrange(100):02d}", nxx, line)
    if kind == 1:  # exchange starting with 0 or 1
        return rng.choice(FORMATS)(npa, f"{rng.randrange(200):03d}", line)
    if kind == 2:  # 7 digits
        return f"{nxx}-{line}"
    if kind == 3:  # 11 national digits
        return f"{npa}{nxx}{line}{rng.randrange(10)}"
    if kind == 4:
        return "n/a"
    if kind == 5:
        return ""
    return f"+44 20 7{rng.randrange(1000):03d} {rng.randrange(10_000):04d}"


def iter_inputs(count: int = COUNT, seed: int = SEED) -> Iterator[str]:
    """`count` deterministic inputs: five formats in equal shares, about 10% invalid."""
    rng = random.Random(seed)
    for index in range(count):
        if rng.random() < INVALID_SHARE:
            yield _invalid(rng)
            continue
        npa = rng.choice(AREA_CODES)
        nxx = str(rng.randint(200, 999))
        line = f"{rng.randrange(10_000):04d}"
        yield FORMATS[index % len(FORMATS)](npa, nxx, line)


def build_inputs(count: int = COUNT, seed: int = SEED) -> list[str]:
    return list(iter_inputs(count, seed))


def run_normalize(inputs: list[str]) -> int:
    valid = 0
    for value in inputs:
        try:
            normalize(value)
        except InvalidNumber:
            continue
        valid += 1
    return valid


def run_phonenumbers(inputs: list[str]) -> int:
    parse = phonenumbers.parse
    is_valid = phonenumbers.is_valid_number
    format_number = phonenumbers.format_number
    e164 = phonenumbers.PhoneNumberFormat.E164
    valid = 0
    for value in inputs:
        try:
            number = parse(value, "US")
        except phonenumbers.NumberParseException:
            continue
        if is_valid(number):
            format_number(number, e164)
            valid += 1
    return valid


def best_rate(function: Callable[[list[str]], int], inputs: list[str]) -> tuple[float, int]:
    """Best numbers/s over RUNS runs, and the number of valid results."""
    best = float("inf")
    valid = 0
    for _ in range(RUNS):
        started = time.perf_counter()
        valid = function(inputs)
        best = min(best, time.perf_counter() - started)
    return len(inputs) / best, valid


def main() -> None:
    inputs = build_inputs()
    normalize("(305) 555-0134")  # warm-up: compiles the NANP validity table once
    run_phonenumbers(inputs[:1000])
    ours, ours_valid = best_rate(run_normalize, inputs)
    theirs, theirs_valid = best_rate(run_phonenumbers, inputs)
    ratio = ours / theirs
    print(
        f"inputs: {len(inputs):,} ({len(inputs) - ours_valid:,} rejected by normalize, "
        f"{len(inputs) - theirs_valid:,} by phonenumbers)"
    )
    print(
        f"normalize: {ours:,.0f}/s  phonenumbers: {theirs:,.0f}/s  "
        f"ratio {ratio:.1f}x (target >= {TARGET:.0f}x)"
    )


if __name__ == "__main__":
    main()
