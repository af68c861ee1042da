import logging

from celery import shared_task

from apps.digests import services

logger = logging.getLogger(__name__)


# Hourly by beat. No retry policy of its own: what fails is not recorded, and the next run
# (within the same day, or Monday for weekly digests) sends it.
@shared_task(name="digests.send_due", ignore_result=True, expires=3000)
def send_due() -> dict:
    stats = services.digests_send_due()
    if stats.sent or stats.failed:
        logger.info("digests: %d sent, %d failed, over %d projects", stats.sent, stats.failed, stats.projects)
    return stats.__dict__
