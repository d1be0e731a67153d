from ail_shared.http import serve
from ail_stats.bootstrap import bootstrap
from ail_stats.config import Settings

settings = Settings()
serve(lambda: bootstrap(settings), settings)
