/* An intrusive doubly-linked list, in the manner of libuv's queue.h: a
 * uvf__link lives inside each element, the list head is a uvf__link too
 * (circular, so no case is special), and UVF__CONTAINER gets the element
 * back. An element can be on as many lists as it has links, and leaves
 * any of them in O(1). */
#ifndef UVF_QUEUE_H
#define UVF_QUEUE_H

#include <stdarg.h>
#include <stddef.h>

typedef struct uvf__link {
  struct uvf__link *next, *prev;
} uvf__link;

#define UVF__CONTAINER(ptr, type, field)                                       \
  ((type *)((char *)(ptr)-offsetof(type, field)))

/* A head or a link not on any list points at itself. */
static inline void uvf__list_init(uvf__link *l) { l->next = l->prev = l; }

/* Initialises every head or link given, up to a NULL. */
static inline void uvf__lists_init(uvf__link *l, ...) {
  va_list ap;
  va_start(ap, l);
  for (; l; l = va_arg(ap, uvf__link *))
    uvf__list_init(l);
  va_end(ap);
}

static inline int uvf__list_empty(const uvf__link *head) {
  return head->next == head;
}

/* For a link: is it on a list? (Links are initialised when made.) */
static inline int uvf__linked(const uvf__link *l) { return l->next != l; }

static inline void uvf__list_insert_before(uvf__link *at, uvf__link *l) {
  l->next = at;
  l->prev = at->prev;
  at->prev->next = l;
  at->prev = l;
}

static inline void uvf__list_push(uvf__link *head, uvf__link *l) {
  uvf__list_insert_before(head, l);
}

static inline void uvf__list_remove(uvf__link *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
  uvf__list_init(l);
}

/* The first link, unlinked; NULL if the list is empty. */
static inline uvf__link *uvf__list_pop(uvf__link *head) {
  uvf__link *l = head->next;
  if (l == head)
    return NULL;
  uvf__list_remove(l);
  return l;
}

/* Moves every link of `from` to the end of `to`. */
static inline void uvf__list_splice(uvf__link *to, uvf__link *from) {
  if (uvf__list_empty(from))
    return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  uvf__list_init(from);
}

#define UVF__LIST_FOREACH(l, head)                                             \
  for ((l) = (head)->next; (l) != (head); (l) = (l)->next)

#endif
