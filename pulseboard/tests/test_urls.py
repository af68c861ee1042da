"""Routes of the project itself (pulseboard/urls.py)."""


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
    assert b"".join(icon.streaming_content if icon.streaming else [icon.content]).startswith(b"<svg")
