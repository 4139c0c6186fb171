"""Item search of a STAC API through QGIS's network stack (its proxy, authentication and SSL settings): POST
``/search`` with the area, dates and collection, every page followed (``next`` links), retries with back-off on
network errors and HTTP 429 / 5xx, a timeout per request, and errors that name the URL."""
import json
import time

from osgeo import ogr
from qgis.PyQt.QtCore import QByteArray, QDate, QUrl
from qgis.PyQt.QtNetwork import QNetworkRequest
from qgis.core import QgsBlockingNetworkRequest, QgsGeometry, QgsProcessingException

from . import stac_items
from .messages import tr

#: Seconds a request may take before it is abandoned (and retried).
TIMEOUT_SECONDS = 60
#: Tries of a request, and the wait before each retry (doubling from the first).
TRIES = 4
FIRST_RETRY_SECONDS = 1.0
#: HTTP statuses worth a retry (throttled, server errors).
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Pages followed at most (a loop of ``next`` links stops there).
MAX_PAGES = 10000


class StacApi:
    """A STAC API at ``root`` (its landing page URL), asked through QGIS's network access manager."""

    def __init__(self, root, feedback, parameter="STAC_API"):
        self.root = root.rstrip("/")
        self.feedback, self.parameter = feedback, parameter
        self.requests = 0

    def request(self, url, body=None):
        """The JSON of a GET (or a POST of ``body``) to ``url``, tried :data:`TRIES` times; a
        QgsProcessingException naming the URL when every try fails."""
        for attempt in range(TRIES):
            if self.feedback.isCanceled():
                raise QgsProcessingException(tr("Cancelled while asking %s.") % url)
            status, content, error = self._once(url, body)
            if error is None and status < 400:
                try:
                    return json.loads(content)
                except ValueError:
                    raise QgsProcessingException(tr("%s: %s did not answer JSON (%s…); is it a STAC API?") % (
                        self.parameter, url, content[:80]))
            if status and status not in RETRY_STATUSES:
                raise QgsProcessingException(tr("%s: %s answered HTTP %d: %s") % (
                    self.parameter, url, status, _short(content) or error))
            if attempt + 1 < TRIES:
                wait = FIRST_RETRY_SECONDS * 2 ** attempt
                self.feedback.pushWarning(tr("%s failed (%s); trying again in %g s.") % (
                    url, "HTTP %d" % status if status else error, wait))
                time.sleep(wait)
        raise QgsProcessingException(tr("%s: %s could not be reached after %d tries: %s. Check the URL, your network "
                                        "and QGIS's proxy settings (Settings > Options > Network).") % (
            self.parameter, url, TRIES, "HTTP %d" % status if status else error))

    def _once(self, url, body):
        """(HTTP status or 0, content text, error text or None) of one request."""
        request = QNetworkRequest(QUrl(url))
        request.setTransferTimeout(TIMEOUT_SECONDS * 1000)
        request.setRawHeader(b"Accept", b"application/geo+json, application/json")
        blocking = QgsBlockingNetworkRequest()
        self.requests += 1
        if body is None:
            code = blocking.get(request, True)
        else:
            request.setHeader(QNetworkRequest.KnownHeaders.ContentTypeHeader, "application/json")
            code = blocking.post(request, QByteArray(json.dumps(body).encode("utf-8")), True)
        reply = blocking.reply()
        status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
        content = bytes(reply.content()).decode("utf-8", "replace")
        failed = code != QgsBlockingNetworkRequest.ErrorCode.NoError
        return int(status or 0), content, (blocking.errorMessage() or "network error") if failed else None

    def conforms_to(self):
        """The conformance classes of the API (its landing page, else ``/conformance``)."""
        landing = self.request(self.root + "/")
        classes = landing.get("conformsTo")
        if classes is None:
            classes = self.request(self.root + "/conformance").get("conformsTo") or []
        return classes

    def search(self, body):
        """Every item of an item search (POST ``/search`` with ``body``), following ``next`` links; reports
        progress per page. Returns (items, pages)."""
        items, pages = [], 0
        url, page_body = self.root + "/search", body
        matched = None
        while url and pages < MAX_PAGES:
            answer = self.request(url, page_body)
            pages += 1
            if answer.get("type") != "FeatureCollection":
                raise QgsProcessingException(tr("%s: %s did not answer an item search (no FeatureCollection).")
                                             % (self.parameter, url))
            items += answer.get("features") or []
            matched = answer.get("numberMatched") or answer.get("context", {}).get("matched") or matched
            if matched:
                self.feedback.setProgress(min(99.0, 100.0 * len(items) / matched))
            self.feedback.pushInfo(tr("Page %d: %d item(s) so far%s.") % (
                pages, len(items), tr(" of %d") % matched if matched else ""))
            url, page_body = next_page(answer, page_body)
        return items, pages


def next_page(answer, body):
    """(URL, body or None for a GET) of the page after ``answer``, or (None, None) at the last page."""
    for link in answer.get("links") or []:
        if link.get("rel") == "next" and link.get("href"):
            if (link.get("method") or "GET").upper() != "POST":
                return link["href"], None
            next_body = link.get("body")
            if next_body is None or link.get("merge"):
                next_body = dict(body or {}, **(next_body or {}))
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


def has_query_extension(classes):
    return any(name.rstrip("/").endswith("item-search#query") for name in classes)


#: Fields of the footprint layer.
FOOTPRINT_FIELDS = (("id", "string"), ("date", "date"), ("cloud_cover", "double", 2), ("tile", "string"),
                    ("platform", "string"), ("baseline", "string", 8))


def within_cloud_cover(items, max_cloud):
    """The items whose scene cloud cover (``eo:cloud_cover``) is at most ``max_cloud`` % (kept when unknown)."""
    return [item for item in items
            if (item.get("properties") or {}).get("eo:cloud_cover") is None
            or float(item["properties"]["eo:cloud_cover"]) <= max_cloud]


def dated_items(items):
    """(items with an acquisition date, ids of those without one: a reader could not place them in time)."""
    dated, undated = [], []
    for item in items:
        try:
            stac_items.item_date(item)
            dated.append(item)
        except stac_items.ItemCollectionError:
            undated.append(str(item.get("id")))
    return dated, undated


def footprint_rows(items):
    """(QgsGeometry in WGS 84, values of :data:`FOOTPRINT_FIELDS`) of each item that has a geometry."""
    rows = []
    for item in items:
        if not item.get("geometry"):
            continue
        geometry = QgsGeometry()
        geometry.fromWkb(ogr.CreateGeometryFromJson(json.dumps(item["geometry"])).ExportToWkb())
        properties = item.get("properties") or {}
        date = stac_items.item_date(item)
        baseline = stac_items.item_baseline(item)
        rows.append((geometry, (str(item.get("id")), QDate(date.year, date.month, date.day),
                                properties.get("eo:cloud_cover"), stac_items.item_tile(item),
                                properties.get("platform") or "", "%05.2f" % baseline if baseline else "")))
    return rows


def write_item_collection(path, items):
    """Write ``items`` as a STAC ItemCollection (GeoJSON FeatureCollection) to ``path``."""
    with open(path, "w", encoding="utf-8") as stream:
        json.dump({"type": "FeatureCollection", "features": items, "links": []}, stream)
