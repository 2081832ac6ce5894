/*
 * tools/cli/keys.c — `lamina keys create|list|delete`: the broker's access
 * keys, which sign requests to AWS_IAM function URLs (SigV4, service
 * lambda).  create prints the secret; it is never shown again.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void text_created(const cJSON *reply)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(reply, "AccessKey");
    printf("%-16s %s\n", "AccessKeyId", out_str(k, "AccessKeyId"));
    printf("%-16s %s\n", "SecretAccessKey", out_str(k, "SecretAccessKey"));
    printf("(the secret is shown only now: keep it)\n");
}

static void text_list(const cJSON *reply)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(reply, "AccessKeys"), *it;
    cJSON_ArrayForEach(it, a)
    {
        printf("%-22s %-30s %s\n", out_str(it, "AccessKeyId"), out_str(it, "CreateDate"),
               out_str(it, "Description"));
    }
}

/* keys create [--description T] | list | delete ACCESS_KEY_ID */
int cmd_keys(cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    cJSON *args = cJSON_CreateObject();
    int rc = EXIT_OK;
    if (strcmp(sub, "create") == 0) {
        args_opt o[] = {{"--description", NULL}};
        rc = args_parse(argc, argv, 2, o, 1, NULL);
        if (rc == EXIT_OK && o[0].value != NULL) {
            cJSON_AddStringToObject(args, "Description", o[0].value);
        }
        if (rc == EXIT_OK) {
            rc = out_call(c, "keys-create", args, NULL, 0, text_created);
        }
    } else if (strcmp(sub, "list") == 0) {
        rc = argc > 2 ? out_usage(argv[0], "unexpected argument '%s'", argv[2])
                      : out_call(c, "keys-list", args, NULL, 0, text_list);
    } else if (strcmp(sub, "delete") == 0) {
        if (argc != 3) {
            rc = out_usage(argv[0], "%s", "delete takes ACCESS_KEY_ID");
        } else {
            cJSON_AddStringToObject(args, "AccessKeyId", argv[2]);
            rc = out_call(c, "keys-delete", args, NULL, 0, out_nothing);
        }
    } else {
        rc = out_usage(argv[0], "expects create|list|delete, got '%s'", sub);
    }
    cJSON_Delete(args);
    return rc;
}
