from celery import shared_task

from apps.alerts import services


# Beat runs this every minute: the alerts whose every_minutes have passed are evaluated.
@shared_task(name="alerts.evaluate_due", ignore_result=True, expires=55)
def evaluate_due() -> dict:
    return services.alerts_evaluate_due()


# One delivery of a notice (an email, a webhook POST). A failed attempt queues the next one
# with a doubling countdown (services.delivery_backoff); after ALERTS_DELIVERY_ATTEMPTS it
# is marked failed in the alert's history. Each delivery is a task of its own, so a slow or
# dead webhook holds up no other alert.
@shared_task(name="alerts.deliver", ignore_result=True)
def deliver(delivery_id: int) -> None:
    countdown = services.delivery_attempt(delivery_id=delivery_id)
    if countdown is not None:
        deliver.apply_async((delivery_id,), countdown=countdown)
