/* sluice.h - everything a plugin needs. */
#ifndef SLUICE_SLUICE_H
#define SLUICE_SLUICE_H

#include "plugin.h"

#endif
