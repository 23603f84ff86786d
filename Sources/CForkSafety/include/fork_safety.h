/* Nothing to call: fork_safety.c installs itself from a constructor. */
#ifndef SANWSP_FORK_SAFETY_H
#define SANWSP_FORK_SAFETY_H
#endif
