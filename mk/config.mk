# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Configuration for fleets (lib/options_env.c): both programs read their options from
# FLOWAGENT_* / FLOWCOLLECTOR_* variables and a --config file too (docs/configuration.md).
# The programs' link rules are read before this file, so the object is an extra prerequisite
# of each (the recipes link $^).
$(BUILD)/flowagent $(BUILD)/flowcollector: $(BUILD)/obj/lib/options_env.o
$(BUILD)/asan/flowagent $(BUILD)/asan/flowcollector: $(BUILD)/asan/lib/options_env.o

UNIT_DIR_test_options_env  := lib
UNIT_OBJS_test_options_env := lib/options_env
