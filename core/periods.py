"""Calendar periods of a time series (years, quarters, months) and dates read from file names."""
import datetime
import re
from dataclasses import dataclass

PERIOD_YEAR, PERIOD_QUARTER, PERIOD_MONTH = 0, 1, 2
#: Months per period, by period kind.
PERIOD_MONTHS = {PERIOD_YEAR: 12, PERIOD_QUARTER: 3, PERIOD_MONTH: 1}
PERIOD_NAMES = {PERIOD_YEAR: "Year", PERIOD_QUARTER: "Quarter", PERIOD_MONTH: "Month"}

#: Precision of a date read from a name: a whole day, or a year alone (a yearly composite).
DAY, YEAR = "day", "year"
#: Months an observation stands for, by the precision of its date: a scene its month, a yearly composite its year.
PRECISION_MONTHS = {DAY: 1, YEAR: 12}

# 2021-06-14, 2021_06_14 or 20210614 (optionally with a time), else a year standing alone (_2021, 2021.tif)
_DAY_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_]?(\d\d)[-_]?(\d\d)(?:T\d{6})?(?!\d)")
_YEAR_IN_NAME = re.compile(r"(?<![\dA-Za-z])((?:19|20)\d\d)(?![\dA-Za-z])")


@dataclass(frozen=True)
class Period:
    """One calendar period: ``start`` (first day) to ``end`` (first day of the next period), and its label
    (``2022``, ``2022-Q3`` or ``2022-07``)."""
    start: datetime.date
    end: datetime.date
    label: str

    @property
    def last_day(self):
        return self.end - datetime.timedelta(days=1)


def month_number(day):
    """Months since year 0 of a date: consecutive months differ by 1."""
    return day.year * 12 + day.month - 1


def _add_months(day, months):
    total = month_number(day) + months
    return datetime.date(total // 12, total % 12 + 1, 1)


def period_start(day, kind):
    """First day of the period of kind ``kind`` that holds ``day``."""
    months = PERIOD_MONTHS[kind]
    return datetime.date(day.year, (day.month - 1) // months * months + 1, 1)


def period_label(start, kind):
    """``2022``, ``2022-Q3`` or ``2022-07`` for the period starting on ``start``."""
    if kind == PERIOD_YEAR:
        return "%d" % start.year
    if kind == PERIOD_QUARTER:
        return "%d-Q%d" % (start.year, (start.month - 1) // 3 + 1)
    return "%d-%02d" % (start.year, start.month)


def periods_covering(first, last, kind):
    """Every period of kind ``kind`` from the one holding ``first`` to the one holding ``last``, in order."""
    periods, start = [], period_start(first, kind)
    while start <= last:
        end = _add_months(start, PERIOD_MONTHS[kind])
        periods.append(Period(start, end, period_label(start, kind)))
        start = end
    return periods


def period_of_dates(dates, periods):
    """Index of the period holding each date (-1 for a date outside every period)."""
    index = []
    for day in dates:
        found = [number for number, period in enumerate(periods) if period.start <= day < period.end]
        index.append(found[0] if found else -1)
    return index


def months_covered(precisions):
    """Months each observation stands for (:data:`PRECISION_MONTHS`), from the precisions of its dates."""
    return [PRECISION_MONTHS[precision] for precision in precisions]


def date_in_name(name):
    """(date, precision) of the first date in a file name: a day (``2021-06-14``, ``20210614``) or, failing
    that, a year standing alone (``_2021``: 1 January, precision :data:`YEAR`); (None, None) when there is none."""
    match = _DAY_IN_NAME.search(name)
    if match:
        try:
            return datetime.date(*map(int, match.groups())), DAY
        except ValueError:
            pass
    match = _YEAR_IN_NAME.search(name)
    if match:
        return datetime.date(int(match.group(1)), 1, 1), YEAR
    return None, None
