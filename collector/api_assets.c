// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The API's description, docs/openapi.yaml, served at /openapi.yaml; see api.h. */
#include "api.h"
#include "embed.h"

EMBED(api_openapi_yaml, "docs/openapi.yaml");
