"""Console routes of schedules."""

urlpatterns: list = []
