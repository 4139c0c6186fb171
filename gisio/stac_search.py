"""Item search of a STAC API through QGIS's network stack (its proxy, authentication and SSL settings): POST
``/search`` with the area, dates and collection, every page followed once (``next`` links), retries with back-off
on network errors and HTTP 429 / 5xx, a deadline and a size cap per request, cancel honoured while waiting, and
errors that name the URL."""
import json
import time
import zlib

from osgeo import ogr
from qgis.PyQt.QtCore import QByteArray, QDate, QEventLoop, QTimer, QUrl
from qgis.PyQt.QtNetwork import QNetworkReply, QNetworkRequest
from qgis.core import QgsGeometry, QgsNetworkAccessManager, QgsProcessingException

from . import stac_items
from .messages import tr

#: Seconds one request may take in all, however slowly its server trickles the answer; then it is abandoned (and
#: tried again).
DEADLINE_SECONDS = 60
#: Tries of a request, and the wait before each retry (doubling from the first).
TRIES = 4
FIRST_RETRY_SECONDS = 1.0
#: HTTP statuses worth a retry (throttled, server errors).
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: The largest answer read (bytes, once decompressed): a page of items is a few MB.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Redirects followed at most (a loop stops there).
MAX_REDIRECTS = 10
#: Pages followed at most.
MAX_PAGES = 10000
#: How often a waiting request checks for cancel and its deadline (milliseconds).
POLL_MS = 100


class StacApi:
    """A STAC API at ``root`` (its landing page URL), asked through QGIS's network access manager (its proxy,
    authentication and SSL settings)."""

    def __init__(self, root, feedback, parameter="STAC_API"):
        self.root = root.rstrip("/")
        self.feedback, self.parameter = feedback, parameter
        self.requests = 0

    def request(self, url, body=None):
        """The JSON object of a GET (or a POST of ``body``) to ``url``, tried :data:`TRIES` times; a
        QgsProcessingException naming the URL when every try fails or the answer is not a JSON object."""
        for attempt in range(TRIES):
            if self.feedback.isCanceled():
                raise QgsProcessingException(tr("Cancelled while asking %s.") % url)
            status, content, error, final = self._once(url, body)
            if error is None and status < 400:
                return self._json_object(url, content)
            if final:
                raise QgsProcessingException("%s: %s %s" % (self.parameter, url, error))
            if error is None and status not in RETRY_STATUSES:
                raise QgsProcessingException(tr("%s: %s answered HTTP %d: %s") % (
                    self.parameter, url, status, _short(content)))
            if attempt + 1 < TRIES:
                wait = FIRST_RETRY_SECONDS * 2 ** attempt
                self.feedback.pushWarning(tr("%s failed (%s); trying again in %g s.") % (
                    url, error or "HTTP %d" % status, wait))
                self._sleep(wait, url)
        raise QgsProcessingException(tr("%s: %s could not be reached after %d tries: %s. Check the URL, your network "
                                        "and QGIS's proxy settings (Settings > Options > Network).") % (
            self.parameter, url, TRIES, error or "HTTP %d" % status))

    def _json_object(self, url, content):
        try:
            answer = json.loads(content)
        except ValueError:
            raise QgsProcessingException(tr("%s: %s did not answer JSON (%s…); is it a STAC API?") % (
                self.parameter, url, _short(content)[:80]))
        if not isinstance(answer, dict):
            raise QgsProcessingException(tr("%s: %s answered a JSON %s, not an object; is it a STAC API?") % (
                self.parameter, url, type(answer).__name__))
        return answer

    def _sleep(self, seconds, url):
        """Wait ``seconds``, stopping at once on cancel."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.feedback.isCanceled():
                raise QgsProcessingException(tr("Cancelled while asking %s.") % url)
            time.sleep(min(POLL_MS / 1000, max(0.0, deadline - time.monotonic())))

    def _once(self, url, body):
        """(HTTP status or 0, content text, error text or None, True when a retry would meet the same error) of
        one request, abandoned after :data:`DEADLINE_SECONDS`, on cancel, or when its answer exceeds
        :data:`MAX_ANSWER_BYTES`."""
        request = QNetworkRequest(QUrl(url))
        request.setRawHeader(b"Accept", b"application/geo+json, application/json")
        request.setRawHeader(b"Accept-Encoding", b"gzip, deflate")  # inflated here, within the size cap
        request.setAttribute(QNetworkRequest.Attribute.RedirectPolicyAttribute,
                             QNetworkRequest.RedirectPolicy.NoLessSafeRedirectPolicy)
        request.setMaximumRedirectsAllowed(MAX_REDIRECTS)
        manager = QgsNetworkAccessManager.instance()
        self.requests += 1
        if body is None:
            reply = manager.get(request)
        else:
            request.setHeader(QNetworkRequest.KnownHeaders.ContentTypeHeader, "application/json")
            reply = manager.post(request, QByteArray(json.dumps(body).encode("utf-8")))
        answer = _Answer(reply, self.feedback.isCanceled)
        answer.wait()
        status = int(reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute) or 0)
        error = answer.error()
        content = b""
        if error is None:
            content, error = answer.content()
        reply.deleteLater()
        if answer.cancelled:
            raise QgsProcessingException(tr("Cancelled while asking %s.") % url)
        return status, content.decode("utf-8", "replace"), error, answer.final

    def conforms_to(self):
        """The conformance classes of the API (its landing page, else ``/conformance``)."""
        landing = self.request(self.root + "/")
        classes = landing.get("conformsTo")
        if classes is None:
            classes = self.request(self.root + "/conformance").get("conformsTo") or []
        if not isinstance(classes, list):
            raise QgsProcessingException(tr("%s: the conformance classes of %s are not a list.") % (
                self.parameter, self.root))
        return [name for name in classes if isinstance(name, str)]

    def has_collection(self, collection):
        """False when the API says it has no collection ``collection`` (HTTP 404 at ``/collections/<id>``); True
        when it has, or cannot tell."""
        status = self._once("%s/collections/%s" % (self.root, collection), None)[0]
        return status != 404

    def search(self, body):
        """Every item of an item search (POST ``/search`` with ``body``), following ``next`` links, each item
        once; a page asked again (a ``next`` link that loops) ends the search with a warning, as does
        :data:`MAX_PAGES`. Reports progress per page. Returns (items, pages)."""
        items, pages, seen_pages, seen_items = [], 0, set(), set()
        url, page_body = self.root + "/search", body
        matched, repeated = None, 0
        while url:
            page_key = (url, json.dumps(page_body, sort_keys=True))
            if page_key in seen_pages:
                self.feedback.pushWarning(tr("%s: the next page of the search is one already read (%s): the API's "
                                             "paging loops; the search stops there with %d item(s).") % (
                    self.parameter, url, len(items)))
                break
            if pages >= MAX_PAGES:
                self.feedback.pushWarning(tr("%s: the search stops after %d pages with %d item(s); narrow EXTENT or "
                                             "the dates.") % (self.parameter, MAX_PAGES, len(items)))
                break
            seen_pages.add(page_key)
            answer = self.request(url, page_body)
            pages += 1
            for item in self._page_items(url, answer):
                if item["id"] in seen_items:
                    repeated += 1
                    continue
                seen_items.add(item["id"])
                items.append(item)
            context = answer.get("context") if isinstance(answer.get("context"), dict) else {}
            matched = _count(answer.get("numberMatched")) or _count(context.get("matched")) or matched
            if matched:
                self.feedback.setProgress(min(99.0, 100.0 * len(items) / matched))
            self.feedback.pushInfo(tr("Page %d: %d item(s) so far%s.") % (
                pages, len(items), tr(" of %d") % matched if matched else ""))
            url, page_body = next_page(answer, page_body)
        if repeated:
            self.feedback.pushWarning(tr("%s: %d item(s) came more than once and are kept once.") % (
                self.parameter, repeated))
        return items, pages

    def _page_items(self, url, answer):
        """The items of a page of an item search; what is not a FeatureCollection of objects with an id is
        refused, naming the URL."""
        features = answer.get("features")
        if answer.get("type") != "FeatureCollection" or not isinstance(features, list):
            raise QgsProcessingException(tr("%s: %s did not answer an item search (no FeatureCollection with a "
                                            "list of features).") % (self.parameter, url))
        bad = [number for number, item in enumerate(features)
               if not isinstance(item, dict) or not isinstance(item.get("id"), (str, int))]
        if bad:
            raise QgsProcessingException(tr("%s: %s answered %d feature(s) that are not STAC items (an object with "
                                            "an id), the first at position %d.") % (
                self.parameter, url, len(bad), bad[0]))
        return features


class _Answer:
    """The wait for a ``QNetworkReply``: an event loop that ends when the reply finishes, when ``is_cancelled()``,
    at the deadline, or when the answer exceeds :data:`MAX_ANSWER_BYTES`; the content inflated within that cap.
    :attr:`final` tells an error a retry would meet again (too large, a redirect loop, a body that does not
    inflate)."""

    def __init__(self, reply, is_cancelled):
        self.reply, self.is_cancelled = reply, is_cancelled
        self.data, self.cancelled, self.late, self.too_big, self.final = bytearray(), False, False, False, False
        self.deadline = time.monotonic() + DEADLINE_SECONDS

    def wait(self):
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(POLL_MS)

        def check():
            if self.is_cancelled():
                self.cancelled = True
            elif time.monotonic() > self.deadline:
                self.late = True
            else:
                return
            self.reply.abort()

        def read():
            self.data += bytes(self.reply.readAll())
            if len(self.data) > MAX_ANSWER_BYTES:
                self.too_big = True
                self.reply.abort()
        timer.timeout.connect(check)
        self.reply.readyRead.connect(read)
        self.reply.finished.connect(loop.quit)
        timer.start()
        if not self.reply.isFinished():
            loop.exec()
        timer.stop()
        if not self.too_big:
            read()

    def error(self):
        """Why the request failed, or None."""
        if self.late:
            return tr("did not answer within %d s") % DEADLINE_SECONDS
        if self.too_big:
            return self._final(tr("answered more than %d MB") % (MAX_ANSWER_BYTES // 2 ** 20))
        code = self.reply.error()
        if code == QNetworkReply.NetworkError.TooManyRedirectsError:
            return self._final(tr("followed more than %d redirects (a redirect loop)") % MAX_REDIRECTS)
        if code != QNetworkReply.NetworkError.NoError and not self.reply.attribute(
                QNetworkRequest.Attribute.HttpStatusCodeAttribute):
            return self.reply.errorString() or tr("network error")
        return None

    def content(self):
        """(the answer's bytes, inflated when gzip or deflate, or an error text when they exceed the cap)."""
        encoding = bytes(self.reply.rawHeader(b"Content-Encoding")).decode("latin-1").strip().lower()
        if encoding not in ("gzip", "deflate"):
            return bytes(self.data), None
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        try:
            content = inflate.decompress(bytes(self.data), MAX_ANSWER_BYTES + 1)
        except zlib.error as error:
            return b"", self._final(tr("answered a %s body that does not inflate (%s)") % (encoding, error))
        if len(content) > MAX_ANSWER_BYTES or inflate.unconsumed_tail:
            return b"", self._final(tr("answered more than %d MB") % (MAX_ANSWER_BYTES // 2 ** 20))
        return content, None

    def _final(self, error):
        """``error``, marked as one a retry would meet again."""
        self.final = True
        return error


def _count(value):
    """A count from metadata (numberMatched), or None when it is not a whole number ≥ 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def next_page(answer, body):
    """(URL, body or None for a GET) of the page after ``answer``, or (None, None) at the last page."""
    links = answer.get("links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("href"), str):
            if (link.get("method") or "GET").upper() != "POST":
                return link["href"], None
            next_body = link.get("body")
            if not isinstance(next_body, dict) or link.get("merge"):
                next_body = dict(body or {}, **(next_body if isinstance(next_body, dict) else {}))
            return link["href"], next_body
    return None, None


def _short(text):
    return " ".join(text.split())[:200]


def search_body(collection, bbox, start, end, max_cloud, page_size, with_query):
    """The body of an item search: ``bbox`` (WGS 84), dates ``start``/``end`` (datetime.date or None), and with
    ``with_query`` (the API has the query extension) the scene cloud cover at most ``max_cloud`` %."""
    body = {"collections": [collection], "bbox": list(bbox), "limit": page_size}
    if start or end:
        body["datetime"] = "%s/%s" % (start.isoformat() + "T00:00:00Z" if start else "..",
                                      end.isoformat() + "T23:59:59Z" if end else "..")
    if with_query:
        body["query"] = {"eo:cloud_cover": {"lte": max_cloud}}
    return body


def boxes_of_points(points):
    """Boxes (west, south, east, north) in WGS 84 around the points (longitude, latitude) of an area's outline: one,
    or two when the area is narrower across the antimeridian than around the globe the other way."""
    longitudes, latitudes = [x for x, _ in points], [y for _, y in points]
    south, north = min(latitudes), max(latitudes)
    shifted = [x % 360 for x in longitudes]
    if max(shifted) - min(shifted) < max(longitudes) - min(longitudes) and max(shifted) > 180:
        return antimeridian_boxes(min(shifted), south, max(shifted), north)
    return [(min(longitudes), south, max(longitudes), north)]


def antimeridian_boxes(west, south, east, north):
    """The two boxes of an area from ``west`` eastwards over the antimeridian to ``east`` (given beyond 180°)."""
    return [(west - 360 if west > 180 else west, south, 180.0, north), (-180.0, south, east - 360, north)]


def has_query_extension(classes):
    return any(name.rstrip("/").endswith("item-search#query") for name in classes)


#: Fields of the footprint layer.
FOOTPRINT_FIELDS = (("id", "string"), ("date", "date"), ("cloud_cover", "double", 2), ("tile", "string"),
                    ("platform", "string"), ("baseline", "string", 8))


def within_cloud_cover(items, max_cloud):
    """(the items whose scene cloud cover is at most ``max_cloud`` % or unknown, the ids of those kept with a cloud
    cover given that is not a number from 0 to 100)."""
    kept, unreadable = [], []
    for item in items:
        cover = stac_items.cloud_cover(item)
        if cover is None and stac_items.item_properties(item).get("eo:cloud_cover") is not None:
            unreadable.append(str(item.get("id")))
        if cover is None or cover <= max_cloud:
            kept.append(item)
    return kept, unreadable


def dated_items(items):
    """(items with an acquisition date, ids of those without one: a reader could not place them in time)."""
    dated, undated = [], []
    for item in items:
        try:
            stac_items.item_date(item)
            dated.append(item)
        except (stac_items.ItemCollectionError, AttributeError, TypeError):
            undated.append(str(item.get("id")))
    return dated, undated


def footprint_rows(items):
    """(rows: (QgsGeometry in WGS 84, values of :data:`FOOTPRINT_FIELDS`) of each item with a polygon geometry,
    the ids of the items without one)."""
    rows, without = [], []
    for item in items:
        footprint = _footprint(item.get("geometry"))
        if footprint is None:
            without.append(str(item.get("id")))
            continue
        properties = stac_items.item_properties(item)
        date = stac_items.item_date(item)
        baseline = stac_items.item_baseline(item)
        platform = properties.get("platform")
        rows.append((footprint, (str(item.get("id")), QDate(date.year, date.month, date.day),
                                 stac_items.cloud_cover(item), stac_items.item_tile(item),
                                 platform if isinstance(platform, str) else "",
                                 "%05.2f" % baseline if baseline else "")))
    return rows, without


def _footprint(geometry):
    """A QgsGeometry of a GeoJSON polygon or multipolygon, or None when there is none or it is not one."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return None
    shape = ogr.CreateGeometryFromJson(json.dumps(geometry))
    if shape is None or shape.IsEmpty():
        return None
    footprint = QgsGeometry()
    footprint.fromWkb(shape.ExportToWkb())
    return footprint


def write_item_collection(path, items):
    """Write ``items`` as a STAC ItemCollection (GeoJSON FeatureCollection) to ``path``."""
    with open(path, "w", encoding="utf-8") as stream:
        json.dump({"type": "FeatureCollection", "features": items, "links": []}, stream)
