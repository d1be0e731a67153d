import os

import uvicorn

from ail_sandbox.mofcom.app import create_app

uvicorn.run(
    create_app(),
    host=os.environ.get("AIL_HTTP_HOST", "127.0.0.1"),
    port=int(os.environ.get("AIL_HTTP_PORT", "18201")),
    log_config=None,
    access_log=False,
    timeout_graceful_shutdown=5,
)
