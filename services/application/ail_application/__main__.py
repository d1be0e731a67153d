from ail_application.bootstrap import bootstrap
from ail_application.config import Settings
from ail_shared.http import serve

settings = Settings()
serve(lambda: bootstrap(settings), settings)
