"""What the demo shop is made of: its pages, screens, devices, countries, buttons and plans,
the event names of its journey, and the weights they are picked with.

Plain data. :mod:`apps.demo.population` turns it into visitors and their sessions.
"""

from __future__ import annotations

SITE = "https://shop.example.com"
PAGEVIEW_EVENT = "$pageview"
SCREEN_EVENT = "$screen"
SIGNUP_EVENT = "signed_up"
ACTIVATION_EVENT = "created_project"
PURCHASE_EVENT = "purchase"
EVENT_NAMES = (
    PAGEVIEW_EVENT,
    SCREEN_EVENT,
    "viewed_item",
    "clicked_cta",
    "searched",
    SIGNUP_EVENT,
    ACTIVATION_EVENT,
    PURCHASE_EVENT,
)

# Local hour of day 0..23 -> relative traffic.
HOUR_WEIGHTS = (
    0.9, 0.6, 0.45, 0.35, 0.35, 0.5, 1.0, 1.8, 2.8, 3.6, 4.0, 4.1,
    3.9, 4.0, 4.1, 3.9, 3.6, 3.2, 3.0, 3.2, 3.3, 2.9, 2.1, 1.4,
)  # fmt: skip
# Monday..Sunday: weekends about 40% below weekdays.
WEEKDAY_WEIGHTS = (1.0, 1.04, 1.05, 1.02, 0.94, 0.6, 0.58)

# (path, weight as a landing page, weight as a later page in the session)
PAGES = (
    ("/", 38, 14),
    ("/pricing", 10, 14),
    ("/features", 6, 10),
    ("/products", 6, 14),
    ("/products/widget-pro", 5, 9),
    ("/products/gadget-mini", 4, 7),
    ("/blog", 4, 4),
    ("/blog/launch-week", 14, 3),
    ("/docs", 6, 7),
    ("/cart", 0, 6),
    ("/checkout", 0, 3),
    ("/signup", 3, 5),
    ("/about", 4, 4),
)
SCREENS = (
    ("Home", 30), ("Search", 14), ("Product", 24), ("Cart", 9), ("Checkout", 4), ("Account", 8), ("Pricing", 7), ("Settings", 4),
)  # fmt: skip
REFERRERS = (
    ("https://www.google.com/", 34),
    ("", 32),  # direct
    ("https://t.co/", 9),
    ("https://newsletter.example.com/", 8),
    ("https://news.ycombinator.com/", 5),
    ("https://www.bing.com/", 4),
    ("https://www.reddit.com/", 4),
    ("https://duckduckgo.com/", 2),
    ("https://www.linkedin.com/", 2),
)
# Visits from these referrers land on a campaign link: the landing page's URL carries their
# UTM parameters (the web overview's UTM lists read them from page_url).
CAMPAIGNS = {
    "https://newsletter.example.com/": "utm_source=newsletter&utm_medium=email&utm_campaign=launch-week",
    "https://t.co/": "utm_source=twitter&utm_medium=social&utm_campaign=spring-sale",
    "https://www.linkedin.com/": "utm_source=linkedin&utm_medium=social&utm_campaign=spring-sale",
    "https://www.reddit.com/": "utm_source=reddit&utm_medium=community&utm_campaign=launch-week",
}
# More than 10 values, so that a top-10 breakdown has an "Other".
COUNTRIES = (
    ("US", 30), ("DE", 9), ("GB", 8), ("IN", 7), ("FR", 6), ("CA", 5), ("BR", 5), ("NL", 3),
    ("ES", 3), ("JP", 3), ("AU", 3), ("SE", 2), ("PL", 2), ("IT", 2), ("MX", 2), ("KR", 1),
)  # fmt: skip
# (source, the device's own properties, weight, user agent)
DEVICES = (
    ("web", {"browser": "Chrome", "os": "Windows"}, 26,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
    ("web", {"browser": "Chrome", "os": "macOS"}, 14,
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
    ("web", {"browser": "Safari", "os": "macOS"}, 10,
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
    ("web", {"browser": "Mobile Safari", "os": "iOS"}, 10,
     "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
    ("web", {"browser": "Chrome Mobile", "os": "Android"}, 8,
     "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"),
    ("web", {"browser": "Firefox", "os": "Windows"}, 5,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    ("web", {"browser": "Firefox", "os": "Linux"}, 2,
     "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    ("web", {"browser": "Edge", "os": "Windows"}, 6,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0"),
    ("ios", {"os": "iOS", "app_version": "4.12.0"}, 7,
     "ShopApp/4.12.0 (iPhone; iOS 18.1; Scale/3.00)"),
    ("ios", {"os": "iOS", "app_version": "4.11.2"}, 3,
     "ShopApp/4.11.2 (iPhone; iOS 17.6; Scale/3.00)"),
    ("android", {"os": "Android", "app_version": "4.12.0"}, 5,
     "ShopApp/4.12.0 (Android 14; SM-S918B)"),
    ("android", {"os": "Android", "app_version": "4.10.1"}, 4,
     "ShopApp/4.10.1 (Android 13; Pixel 7)"),
)  # fmt: skip
BUTTONS = (
    ("start_trial", 30), ("see_pricing", 22), ("add_to_cart", 20),
    ("subscribe_newsletter", 12), ("watch_demo", 10), ("contact_sales", 6),
)  # fmt: skip
SEARCHES = (
    "widget", "gadget", "pricing", "api", "export csv", "team plan", "refund", "integrations",
    "shipping", "discount", "dark mode", "webhooks", "sso", "invoice", "mobile app", "gift card",
)  # fmt: skip
CATEGORIES = ("Widgets", "Gadgets", "Audio", "Cables", "Bags", "Lighting", "Office", "Outdoor")
SIGNUP_METHODS = (("email", 50), ("google", 35), ("github", 15))
TEMPLATES = (("blank", 40), ("ecommerce", 25), ("saas", 20), ("blog", 15))
# (plan, price in USD, weight)
PLANS = (("starter", 29.0, 55), ("pro", 99.0, 33), ("enterprise", 499.0, 12))
# Browsing events: (kind, weight); apps.demo.population writes each kind.
BROWSE_KINDS = (("page", 62), ("viewed_item", 16), ("clicked_cta", 12), ("searched", 10))
