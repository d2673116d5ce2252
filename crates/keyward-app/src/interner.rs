//! Values many keys share (workspace ids, permission sets), held once and named by a small
//! number: a key of the index stores 4 bytes where it stored a string or a list, and a value
//! no key uses any more is freed (each value counts its users).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// The number naming an interned value.
pub(crate) type InternId = u32;

pub(crate) struct Interner<T: ?Sized> {
    ids: HashMap<Arc<T>, InternId>,
    /// By id; `None` where a value was freed and its id waits in `free` for reuse.
    values: Vec<Option<Interned<T>>>,
    free: Vec<InternId>,
}

struct Interned<T: ?Sized> {
    value: Arc<T>,
    users: usize,
}

impl<T: ?Sized> Default for Interner<T> {
    fn default() -> Self {
        Self {
            ids: HashMap::new(),
            values: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T: ?Sized + Eq + Hash> Interner<T>
where
    for<'a> Arc<T>: From<&'a T>,
{
    /// The id of `value`, counting one more user; `None` only once `InternId::MAX` distinct
    /// values are held (four billion permission sets do not fit in memory anyway).
    pub(crate) fn acquire(&mut self, value: &T) -> Option<InternId> {
        if let Some(&id) = self.ids.get(value) {
            if let Some(interned) = self.slot(id) {
                interned.users += 1;
            }
            return Some(id);
        }
        let value: Arc<T> = Arc::from(value);
        let interned = Interned {
            value: Arc::clone(&value),
            users: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                let slot = self.values.get_mut(usize::try_from(id).ok()?)?;
                *slot = Some(interned);
                id
            }
            None => {
                let id = InternId::try_from(self.values.len()).ok()?;
                self.values.push(Some(interned));
                id
            }
        };
        self.ids.insert(value, id);
        Some(id)
    }

    /// One user fewer for `id`; the value is freed with its last user.
    pub(crate) fn release(&mut self, id: InternId) {
        let Some(interned) = self.slot(id) else {
            return;
        };
        interned.users = interned.users.saturating_sub(1);
        if interned.users > 0 {
            return;
        }
        let value = Arc::clone(&interned.value);
        self.ids.remove(&*value);
        if let Some(slot) = self.values.get_mut(id as usize) {
            *slot = None;
        }
        self.free.push(id);
    }

    pub(crate) fn get(&self, id: InternId) -> Option<&T> {
        match self.values.get(id as usize) {
            Some(Some(interned)) => Some(&interned.value),
            _ => None,
        }
    }

    /// How many distinct values are held.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Bytes held by the tables (values' own bytes are counted by `value_bytes`).
    pub(crate) fn table_bytes(&self) -> usize {
        self.ids.capacity() * (size_of::<(Arc<T>, InternId)>() + 1)
            + self.values.capacity() * size_of::<Option<Interned<T>>>()
            + self.free.capacity() * size_of::<InternId>()
    }

    /// Every held value, for counting their bytes.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.values
            .iter()
            .flatten()
            .map(|interned| &*interned.value)
    }

    fn slot(&mut self, id: InternId) -> Option<&mut Interned<T>> {
        self.values.get_mut(id as usize)?.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_id_and_the_last_release_frees_it() {
        let mut names: Interner<str> = Interner::default();
        let a = names.acquire("ws_a").unwrap();
        let again = names.acquire("ws_a").unwrap();
        let b = names.acquire("ws_b").unwrap();
        assert_eq!(a, again);
        assert_ne!(a, b);
        assert_eq!(names.len(), 2);
        names.release(a);
        assert_eq!(names.get(a), Some("ws_a"), "one user is left");
        names.release(a);
        assert_eq!(names.get(a), None);
        assert_eq!(names.len(), 1);
        // The freed id is reused, and the old value is not found under it.
        let c = names.acquire("ws_c").unwrap();
        assert_eq!(c, a);
        assert_eq!(names.get(c), Some("ws_c"));
        assert_eq!(names.get(b), Some("ws_b"));
    }

    #[test]
    fn releasing_an_unknown_id_changes_nothing() {
        let mut sets: Interner<[u8]> = Interner::default();
        let id = sets.acquire(&[1, 2][..]).unwrap();
        sets.release(id + 7);
        assert_eq!(sets.get(id), Some(&[1, 2][..]));
        assert_eq!(sets.len(), 1);
    }
}
