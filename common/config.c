/* config.c -- see config.h. */
#include "common/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Makefile defines it when WEIGHTS is set, for this file only. */
#ifndef CONFIG_WEIGHTS_DEFAULT
#define CONFIG_WEIGHTS_DEFAULT "../shared/models/mobilenet_v2/model.safetensors"
#endif

static const char *pick(const char *flag, const char *env, const char *fallback)
{
    if (flag && *flag)
        return flag;
    const char *value = getenv(env);
    return value && *value ? value : fallback;
}

const char *config_weights_default(void)
{
    return CONFIG_WEIGHTS_DEFAULT;
}

const char *config_weights_help(void)
{
    static char help[512];
    snprintf(help, sizeof help, "MobileNetV2 safetensors (default $%s, else %s)",
             CONFIG_WEIGHTS_ENV, CONFIG_WEIGHTS_DEFAULT);
    return help;
}

const char *config_weights_path(const char *flag)
{
    return pick(flag, CONFIG_WEIGHTS_ENV, CONFIG_WEIGHTS_DEFAULT);
}

const char *config_data_path(const char *flag)
{
    return pick(flag, CONFIG_DATA_ENV, CONFIG_DATA_DEFAULT);
}

const char *config_keys_dir(const char *flag)
{
    return pick(flag, CONFIG_KEYS_ENV, NULL);
}

int config_task_buffer_for(const char *endpoint, int task_buffer)
{
    return strncmp(endpoint, "tcp://", strlen("tcp://")) == 0 ? task_buffer : 0;
}

const char *config_redis_url(void)
{
    const char *url = getenv("REDIS_URL");
    return url && *url ? url : NULL;
}
