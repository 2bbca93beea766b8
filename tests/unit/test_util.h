/*
 * test_util.h - helpers shared by the unit test programs.  Include after
 * <cmocka.h> and "plugin.h".
 */
#ifndef SLUICE_TEST_UTIL_H
#define SLUICE_TEST_UTIL_H

/* A standalone instance of <p> configured by <yaml> (a flow map).  Prints
 * every configuration error and fails the test when it cannot be made. */
static inline struct sl_instance *tu_instance(const struct sl_plugin *p,
                                              const char *yaml)
{
    struct sl_errlist errs;
    struct sl_instance *ins;
    size_t i;

    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(p, yaml, &errs);
    for (i = 0; ins == NULL && i < errs.n; i++) {
        print_message("error: %s\n", errs.items[i].msg);
    }
    assert_non_null(ins);
    return ins;
}

#endif
