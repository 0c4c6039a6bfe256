"""The hot pages served from each worker's memory until their project's models change (ADR 0030).

``cache.PageCache`` keeps answers; ``listener.ChangeListener`` hears the changes the live
projection announces (``projections.changes``) and the switches of a rebuild
(``rebuild.schemas``), and makes sure a page is not served before every change committed
before the request has been heard; ``api.hot_routes`` reads and fills the cache.
"""
