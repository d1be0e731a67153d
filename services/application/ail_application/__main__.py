from ail_application.bootstrap import Settings, bootstrap
from ail_shared.http import serve

settings = Settings()
serve(lambda: bootstrap(settings), settings)
